"""Loyalty over the canonical core tables: tiers, an append-only cashback ledger, reconciliation, sync summaries."""
