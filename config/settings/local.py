"""Settings for a developer's machine: DEBUG on, SQLite unless DATABASE_URL is set."""

from __future__ import annotations

from config.env import env_bool, env_str

from .base import *
from .base import INSTALLED_APPS, MIDDLEWARE

DEBUG = env_bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env_str(
    "DJANGO_SECRET_KEY", default="django-insecure-local-development-key-not-for-production"
)

# Let whitenoise, not runserver, serve static files, as in production.
INSTALLED_APPS = ["whitenoise.runserver_nostatic", *INSTALLED_APPS]

# Reload the open page when a template or a static file changes (the webpack bundle too:
# assets/dist/bundles/ is in STATICFILES_DIRS) and after runserver restarts on a Python
# change. django-browser-reload is in requirements/local.txt only, and only these
# settings name it: production neither installs nor loads it.
if DEBUG:
    INSTALLED_APPS = [*INSTALLED_APPS, "django_browser_reload"]
    MIDDLEWARE = [*MIDDLEWARE, "django_browser_reload.middleware.BrowserReloadMiddleware"]
