#!/usr/bin/env python
"""Run Django's command-line utility for administrative tasks."""

import sys


def main() -> None:
    """Run a management command; a bad setting prints one line and exits 1."""
    try:
        from django.core.management import execute_from_command_line
    except ImportError as exc:
        raise ImportError(
            "Couldn't import Django. Is it installed and available on your PYTHONPATH "
            "environment variable? Did you forget to activate a virtual environment?"
        ) from exc
    from config.env import start_django

    # .env first (its DJANGO_SETTINGS_MODULE counts), then the settings.
    start_django()
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
