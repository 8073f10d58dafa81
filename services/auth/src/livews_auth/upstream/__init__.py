"""Clients of upstream services (Fyers)."""
