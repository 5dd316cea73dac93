"""WSGI entry point (gunicorn config.wsgi); a bad setting prints one line and stops."""

import sys

from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

from config.env import start_django

# gunicorn restarts a worker that exits 1 over and over; a worker that exits 3 ("worker
# failed to boot") makes the master stop. Anywhere else, exit 1 as manage.py does.
GUNICORN_WORKER_BOOT_ERROR = 3

# .env first (its DJANGO_SETTINGS_MODULE counts; the environment wins), then the settings.
start_django(GUNICORN_WORKER_BOOT_ERROR if "gunicorn.arbiter" in sys.modules else 1)

application: WSGIHandler = get_wsgi_application()
