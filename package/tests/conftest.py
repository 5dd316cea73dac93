"""Every suite's fixtures of real services come from the harness, testing/ (a pytest plugin)."""

pytest_plugins = ["testing.fixtures"]
