"""Dev and test tooling: embedded Redis, managed processes, dev runner, pytest fixtures."""
