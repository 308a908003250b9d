"""Tests of the TikTok Shop source."""
