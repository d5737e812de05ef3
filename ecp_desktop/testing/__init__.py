"""Helpers for tests, benchmarks and screenshots (Qt-free)."""
