"""System check: the webpack manifest exists and describes a successful build."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, register

from core.bundle import BUILD_HINT, bundle_problem


@register("webpack")
def check_webpack_manifest(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Report a missing, unreadable or failed webpack manifest, with how to build it."""
    problem = bundle_problem()
    if problem is None:
        return []
    return [Error(problem, hint=BUILD_HINT, id="core.E001")]
