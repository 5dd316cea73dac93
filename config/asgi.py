"""ASGI entry point; a bad setting prints one line and exits 1."""

from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler

from config.env import start_django

# .env first (its DJANGO_SETTINGS_MODULE counts; the environment wins), then the settings.
start_django()

application: ASGIHandler = get_asgi_application()
