"""Pytest fixtures and helpers that start livews-marketdata for tests (filled in with the service)."""
