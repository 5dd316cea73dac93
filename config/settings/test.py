"""Settings for the test suite: fast, deterministic, no secrets needed.

The database is DATABASE_URL when set (e.g. PostgreSQL), else SQLite; the test runner
creates and drops its own test database (test_<name>, in memory for SQLite).
"""

from __future__ import annotations

from .base import *

DEBUG = False
SECRET_KEY = "test-only-secret-key-that-is-long-and-random-enough-0123456789"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False}
