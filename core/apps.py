"""App configuration: registers the webpack manifest system check."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The one Django app of the project."""

    name = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks."""
        from core import checks  # noqa: F401  (importing registers the checks)
