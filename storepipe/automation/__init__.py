"""Schedules and sensors: syncs, the webhook inbox, late statements and the shop registry."""
