"""Pytest fixtures and helpers that start livews-gateway for tests (filled in with the service)."""
