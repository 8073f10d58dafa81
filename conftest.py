"""Fixtures shared by every test in the repository live in livews_devtools.pytest_plugin."""

pytest_plugins = ["livews_devtools.pytest_plugin"]
