"""Template context that every page gets."""

from __future__ import annotations

from django.http import HttpRequest

from config.project import NAME


def project(request: HttpRequest) -> dict[str, str]:
    """Return the project's name for page titles and headings."""
    return {"project_name": NAME}
