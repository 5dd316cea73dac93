"""django-browser-reload: in the local settings with DEBUG on, and nowhere else.

Each settings module is loaded in its own process, as manage.py would load it. The
reload itself (a template or JS change reloading the open page) is tested in a real
browser against the compose stack: tests/e2e/test_local_dev.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.web.conftest import run_python, write_fake_build
from tests.web.test_production import production_env

# Prints what the loaded settings install, and the home page as a browser gets it.
PROBE = """
import json
import django
from django.conf import settings
django.setup()
from django.test import Client
from django.urls import NoReverseMatch, reverse
try:
    events = reverse("django_browser_reload:events")
except NoReverseMatch:
    events = None
page = Client().get("/").content.decode()
print(json.dumps({
    "app": "django_browser_reload" in settings.INSTALLED_APPS,
    "middleware": any("django_browser_reload" in m for m in settings.MIDDLEWARE),
    "events": events,
    "script_in_page": "django-browser-reload/reload-listener.js" in page,
    "bundle_in_page": "main.0a1b2c3d.js" in page,
}))
"""


def probe(tmp_path: Path, settings_module: str, **values: str) -> dict[str, object]:
    """Load ``settings_module`` (with a fake webpack build) in a subprocess; return PROBE's view."""
    build = write_fake_build(tmp_path / "dist")
    module = "browser_reload_probe_settings"
    (tmp_path / f"{module}.py").write_text(
        f"from {settings_module} import *  # noqa: F403\n"
        "WEBPACK_LOADER = {'DEFAULT': {**WEBPACK_LOADER['DEFAULT'], "
        f"'STATS_FILE': {str(build.stats_file)!r}}}}}\n"
        f"STATICFILES_DIRS = [('bundles', {str(build.bundles_dir)!r})]\n"
        "ALLOWED_HOSTS = ['testserver']\n"
        # Production's manifest storage would need collectstatic; the URLs do not matter here.
        "STORAGES = {**STORAGES, 'staticfiles': "
        "{'BACKEND': 'django.contrib.staticfiles.storage.StaticFilesStorage'}}\n"
    )
    env = production_env(
        tmp_path, DJANGO_SETTINGS_MODULE=module, PYTHONPATH=str(tmp_path), **values
    )
    result = run_python(env, "-c", PROBE)
    assert result.returncode == 0, result.stderr
    view: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return view


def test_local_settings_inject_the_reload_script_into_pages(tmp_path: Path) -> None:
    view = probe(tmp_path, "config.settings.local")

    assert view == {
        "app": True,
        "middleware": True,
        "events": "/__reload__/events/",
        "script_in_page": True,
        "bundle_in_page": True,
    }


@pytest.mark.parametrize(
    ("settings_module", "values"),
    [
        ("config.settings.local", {"DJANGO_DEBUG": "false"}),
        ("config.settings.production", {"DJANGO_SECURE_SSL_REDIRECT": "false"}),
        ("config.settings.test", {}),
    ],
    ids=["local-without-debug", "production", "test"],
)
def test_other_settings_leave_browser_reload_out(
    tmp_path: Path, settings_module: str, values: dict[str, str]
) -> None:
    view = probe(tmp_path, settings_module, **values)

    assert view == {
        "app": False,
        "middleware": False,
        "events": None,
        "script_in_page": False,
        "bundle_in_page": True,
    }
