"""livews_auth."""
