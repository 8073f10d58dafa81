"""livews_common."""
