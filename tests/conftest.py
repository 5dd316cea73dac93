"""Every suite's fixtures of real services come from the harness package, testing/."""

pytest_plugins = ["testing.fixtures"]
