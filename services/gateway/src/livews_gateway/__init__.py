"""livews_gateway."""
