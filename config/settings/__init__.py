"""Settings per environment: local (default), production, test; all build on base."""
