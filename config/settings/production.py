"""Settings for production: DEBUG off, secrets required, HTTPS enforced, whitenoise.

Runs behind a TLS-terminating proxy that sets X-Forwarded-Proto. For plain-HTTP test
environments set DJANGO_SECURE_SSL_REDIRECT=false. Logs are JSON lines on stdout; e-mail
(errors to DJANGO_ADMINS, password resets) goes where EMAIL_URL or DJANGO_EMAIL_* say.
"""

from __future__ import annotations

from config import project
from config.env import database_from_env, env_bool, env_int, env_str
from config.logs import DEFAULT_HEADER, json_logging, log_level_from_env
from config.mail import address_from_env, admins_from_env, email_from_env

from .base import *
from .base import BASE_DIR, MIDDLEWARE, WEBPACK_LOADER

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

# Logs: one JSON object per record on stdout, with the proxy's request id when it sends one.
REQUEST_ID_HEADER = env_str("DJANGO_REQUEST_ID_HEADER", DEFAULT_HEADER)
LOGGING = json_logging(log_level_from_env("DJANGO_LOG_LEVEL", "INFO"), REQUEST_ID_HEADER)
MIDDLEWARE = ["config.logs.RequestIdMiddleware", *MIDDLEWARE]

# E-mail: EMAIL_URL, or DJANGO_EMAIL_*; unset, Django's default (SMTP on localhost:25).
_email = email_from_env()
EMAIL_BACKEND = _email.backend
EMAIL_HOST = _email.host
EMAIL_PORT = _email.port
EMAIL_HOST_USER = _email.user
EMAIL_HOST_PASSWORD = _email.password
EMAIL_USE_TLS = _email.use_tls
EMAIL_USE_SSL = _email.use_ssl
EMAIL_TIMEOUT = 10  # seconds: an SMTP server that does not answer must not hang a request
EMAIL_SUBJECT_PREFIX = f"[{project.NAME}] "
# Who gets the error reports (500s) by e-mail, and who the mails come from.
ADMINS = admins_from_env("DJANGO_ADMINS")
DEFAULT_FROM_EMAIL = address_from_env("DJANGO_DEFAULT_FROM_EMAIL", "webmaster@localhost")
SERVER_EMAIL = address_from_env("DJANGO_SERVER_EMAIL", DEFAULT_FROM_EMAIL)
