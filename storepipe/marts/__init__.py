"""Analytics marts over the canonical core tables: written once, instantiated per lane."""
