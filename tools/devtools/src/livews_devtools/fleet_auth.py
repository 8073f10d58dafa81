"""Pytest fixtures and helpers that start livews-auth for tests (filled in with the service)."""
