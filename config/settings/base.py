"""Settings shared by every environment.

Values come from the environment; ``.env`` at the repository root is loaded first (by
config/env.py, a strict reader on python-dotenv's parser), and variables already set in
the environment win over it. ``.env.example`` and the
README's "Settings" table list every variable.
"""

from __future__ import annotations

from pathlib import Path

from config.env import database_from_env, env_bool, env_list, load_env_file

BASE_DIR = Path(__file__).resolve().parent.parent.parent
load_env_file(BASE_DIR)

DEBUG = env_bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "webpack_loader",
    "core",
    "users",
]

# The project's own user model (users/models.py), set before the first migration: Django
# cannot switch it later.
AUTH_USER_MODEL = "users.User"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Right after SecurityMiddleware: serves STATIC_ROOT (hashed files cached for ever).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.project",
            ],
        },
    },
]

# DATABASE_URL (parsed by dj-database-url), or the SQLite file db.sqlite3 when unset.
DATABASES = {"default": database_from_env(BASE_DIR / "db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files. webpack writes content-hashed bundles to assets/dist/bundles/ and its
# manifest to assets/dist/webpack-stats.json; staticfiles serves the bundles under
# STATIC_URL + "bundles/", so {% render_bundle %} URLs go through the staticfiles storage
# (and, in production, through the manifest storage and whitenoise).
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WEBPACK_DIST_DIR = BASE_DIR / "assets" / "dist"
STATICFILES_DIRS = [("bundles", WEBPACK_DIST_DIR / "bundles")]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

WEBPACK_LOADER = {
    "DEFAULT": {
        "BUNDLE_DIR_NAME": "bundles/",
        "STATS_FILE": str(WEBPACK_DIST_DIR / "webpack-stats.json"),
        # Re-read the manifest on every request, so `npm run dev` rebuilds show up.
        "CACHE": False,
        # Give up on a manifest stuck in "compile" instead of hanging the request.
        "TIMEOUT": 30,
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": "INFO"},
}
