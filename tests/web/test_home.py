"""The home page loads the webpack bundle through Django's staticfiles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.checks import Error
from django.core.management import call_command
from django.test import Client, override_settings

from core.checks import check_webpack_manifest
from tests.web.conftest import FakeBuild, PointLoader, write_fake_build


def test_home_page_includes_the_hashed_bundle_from_the_manifest(
    client: Client, fake_build: FakeBuild
) -> None:
    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<script src="/static/bundles/{fake_build.js_name}" defer></script>' in html
    assert f'<link href="/static/bundles/{fake_build.css_name}" rel="stylesheet"' in html
    assert 'id="bundle-status"' in html


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_home_page_only_answers_safe_methods(
    client: Client, fake_build: FakeBuild, method: str
) -> None:
    assert getattr(client, method)("/").status_code == 405


def test_missing_manifest_gives_a_page_saying_to_run_npm_run_build(
    client: Client, tmp_path: Path, point_loader_at: PointLoader
) -> None:
    point_loader_at(tmp_path / "never-built" / "webpack-stats.json")

    response = client.get("/")

    assert response.status_code == 503
    html = response.content.decode()
    assert "npm run build" in html
    assert "does not exist" in html
    assert "Traceback" not in html
    assert "<script" not in html


def test_failed_build_gives_a_page_saying_so(
    client: Client, tmp_path: Path, point_loader_at: PointLoader
) -> None:
    point_loader_at(write_fake_build(tmp_path, status="error").stats_file)

    response = client.get("/")

    assert response.status_code == 503
    assert "The last webpack build failed" in response.content.decode()


def test_system_check_reports_a_missing_manifest_with_the_build_command(
    tmp_path: Path, point_loader_at: PointLoader
) -> None:
    point_loader_at(tmp_path / "webpack-stats.json")

    [message] = check_webpack_manifest()

    assert isinstance(message, Error)
    assert message.id == "core.E001"
    assert str(tmp_path / "webpack-stats.json") in message.msg
    assert message.hint is not None
    assert "npm run build" in message.hint


def test_system_check_passes_with_a_built_manifest(fake_build: FakeBuild) -> None:
    assert check_webpack_manifest() == []


def test_manifest_storage_serves_the_bundle_from_static_root_with_immutable_caching(
    tmp_path: Path, fake_build: FakeBuild
) -> None:
    static_root = tmp_path / "staticfiles"
    production_static = override_settings(
        STATIC_ROOT=static_root,
        STATICFILES_DIRS=[("bundles", fake_build.bundles_dir)],
        STATICFILES_FINDERS=["django.contrib.staticfiles.finders.FileSystemFinder"],
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
        },
    )
    with production_static:
        call_command("collectstatic", "--no-input", verbosity=0)
        client = Client()  # a new client loads whitenoise, which indexes STATIC_ROOT
        html = client.get("/").content.decode()

        urls = re.findall(r'(?:src|href)="(/static/bundles/[^"]+)"', html)
        assert len(urls) == 2, html
        for url in urls:
            # webpack's content hash, then the manifest storage's hash: main.0a1b2c3d.<h>.js
            assert re.fullmatch(r"/static/bundles/main\.[0-9a-f]{8}\.[0-9a-f]{12}\.(js|css)", url)
            assert (static_root / url.removeprefix("/static/")).is_file()
            response = client.get(url)
            assert response.status_code == 200
            assert response["Cache-Control"] == "max-age=315360000, public, immutable"
