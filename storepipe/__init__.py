"""storepipe: imports e-commerce shops into PostgreSQL with Dagster and computes their analytics."""

__version__ = "0.1.0"
