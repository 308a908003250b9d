"""Webhook receiver and its durable inbox (ops.webhook_inbox); see docs/webhooks.md."""
