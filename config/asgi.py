"""ASGI entry point; a bad setting prints one line and exits 1."""

import os

from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler

from config.env import exit_on_bad_settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
exit_on_bad_settings()

application: ASGIHandler = get_asgi_application()
