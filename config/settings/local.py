"""Settings for a developer's machine: DEBUG on, SQLite unless DATABASE_URL is set."""

from __future__ import annotations

from config.env import env_bool, env_str

from .base import *
from .base import INSTALLED_APPS

DEBUG = env_bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env_str(
    "DJANGO_SECRET_KEY", default="django-insecure-local-development-key-not-for-production"
)

# Let whitenoise, not runserver, serve static files, as in production.
INSTALLED_APPS = ["whitenoise.runserver_nostatic", *INSTALLED_APPS]
