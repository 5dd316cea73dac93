"""Settings for production: DEBUG off, secrets required, HTTPS enforced, whitenoise.

Runs behind a TLS-terminating proxy that sets X-Forwarded-Proto. For plain-HTTP test
environments set DJANGO_SECURE_SSL_REDIRECT=false.
"""

from __future__ import annotations

from config.env import database_from_env, env_bool, env_int, env_str

from .base import *
from .base import BASE_DIR, WEBPACK_LOADER

DEBUG = False  # DJANGO_DEBUG is ignored here on purpose.
SECRET_KEY = env_str(
    "DJANGO_SECRET_KEY",
    expected="a long random string, e.g. from "
    "python -c 'import secrets; print(secrets.token_urlsafe(50))'",
)

# Keep connections for a minute and check them before reuse.
DATABASES = {"default": database_from_env(BASE_DIR / "db.sqlite3", conn_max_age=60)}

# HTTPS: the proxy terminates TLS and says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Load balancers and container health checks probe over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# Start low; raise to 31536000 (a year) once every subdomain serves HTTPS.
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", default=3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True

# Hashed, compressed static files from STATIC_ROOT (collectstatic), served by whitenoise
# with far-future cache headers.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WEBPACK_LOADER = {"DEFAULT": {**WEBPACK_LOADER["DEFAULT"], "CACHE": True}}
