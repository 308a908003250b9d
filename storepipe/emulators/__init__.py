"""Simulated shop APIs (real HTTP servers with deterministic data) for tests, demos and benchmarks."""
