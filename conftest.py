"""Fixtures shared by every test in the repository live in livews_devtools."""

pytest_plugins = [
    "livews_devtools.pytest_plugin",
    "livews_devtools.fleet_auth",
    "livews_devtools.fleet_marketdata",
    "livews_devtools.fleet_gateway",
    "livews_devtools.fleet",
]
