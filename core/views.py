"""Views: the home page (loads the webpack bundle) and the /healthz probe."""

from __future__ import annotations

import logging

from django.db import Error as DatabaseError
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from webpack_loader.exceptions import BaseWebpackLoaderException

from core.bundle import BUILD_HINT, bundle_problem

logger = logging.getLogger(__name__)


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """Render the home page, or a 503 page saying how to build a missing bundle."""
    try:
        return render(request, "core/home.html")
    except (OSError, BaseWebpackLoaderException) as exc:
        problem = bundle_problem() or str(exc)
        logger.error("home page: webpack bundle unavailable: %s %s", problem, BUILD_HINT)
        context = {"problem": problem, "hint": BUILD_HINT}
        return render(request, "core/bundle_missing.html", context, status=503)


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Report whether the database answers: 200 when it does, 503 when not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("healthz: database unavailable: %s", exc)
        body = {
            "status": "error",
            "database": "unavailable",
            "vendor": connection.vendor,
            "error": type(exc).__name__,
        }
        return JsonResponse(body, status=503)
    return JsonResponse({"status": "ok", "database": "ok", "vendor": connection.vendor})
