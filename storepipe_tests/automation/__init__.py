"""Tests of the schedules, sensors and concurrency limits."""
