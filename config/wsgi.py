"""WSGI entry point (gunicorn config.wsgi); a bad setting prints one line and stops."""

import os
import sys

from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

from config.env import exit_on_bad_settings

# gunicorn restarts a worker that exits 1 over and over; a worker that exits 3 ("worker
# failed to boot") makes the master stop. Anywhere else, exit 1 as manage.py does.
GUNICORN_WORKER_BOOT_ERROR = 3

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
exit_on_bad_settings(GUNICORN_WORKER_BOOT_ERROR if "gunicorn.arbiter" in sys.modules else 1)

application: WSGIHandler = get_wsgi_application()
