"""TikTok Shop Open API (v202309+) source: request signing, client and extraction."""
