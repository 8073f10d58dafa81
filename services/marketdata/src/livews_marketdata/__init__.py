"""livews_marketdata."""
