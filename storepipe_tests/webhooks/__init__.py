"""Tests of the webhook receiver, the inbox and the webhook-apply runs."""
