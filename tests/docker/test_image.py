"""The production image, built from the Dockerfile on a real engine, and its containers."""

from __future__ import annotations

import re
import secrets
import time
import urllib.request
from collections.abc import Callable

import docker
import pytest
from testing.production_image import ProductionImage, Server

pytestmark = pytest.mark.docker

# run_in_image (tests/docker/conftest.py): a command in a new production container.
Runner = Callable[..., tuple[int, str]]


def test_stages_are_named_and_ordered(production_image: ProductionImage) -> None:
    assert list(production_image.stages) == ["build-python", "build-node", "assets", "production"]


def test_image_has_no_build_tools_or_private_files(
    run_in_image: Runner, planted_secret: str
) -> None:
    script = (
        "for tool in gcc cc c++ make node npm npx; do"
        ' command -v "$tool" >/dev/null 2>&1 && echo "TOOL $tool";'
        " done;"
        " for path in /app/.env /app/.env.production /app/.git /app/node_modules"
        " /app/db.sqlite3; do"
        ' [ -e "$path" ] && echo "PATH $path";'
        " done;"
        " find / -xdev -name node_modules -prune -print | sed 's/^/PATH /';"
        f" grep -rls {planted_secret} /app /opt | sed 's/^/LEAK /';"
        " echo DONE"
    )
    code, output = run_in_image(["sh", "-c", script])
    assert code == 0, output
    assert output.strip().endswith("DONE"), output
    found = [line for line in output.splitlines() if line.split(" ")[0] in {"TOOL", "PATH", "LEAK"}]
    assert found == [], "the production image must not contain these:\n" + "\n".join(found)


LIST_DISTRIBUTIONS = """
import importlib.metadata
for dist in importlib.metadata.distributions():
    print("DIST", dist.name.lower())
"""


def test_image_has_no_build_tooling_code(run_in_image: Runner) -> None:
    # The stage tasks come from the stageline package, which the build job installs; the
    # image runs the app only: no tasks file, no build or test tooling, installed or copied.
    script = (
        "for path in tasks.py noxfile.py stageline package testing tests .ci; do"
        ' [ -e "/app/$path" ] && echo "PATH /app/$path";'
        " done;"
        " find /app /opt/venv -xdev -iname '*stageline*' | sed 's/^/PATH /';"
        ' python3 -c "$0";'
        " echo DONE"
    )
    code, output = run_in_image(["sh", "-c", script, LIST_DISTRIBUTIONS])
    assert code == 0, output
    assert output.strip().endswith("DONE"), output
    found = [line for line in output.splitlines() if line.startswith("PATH ")]
    dists = {line.split()[1] for line in output.splitlines() if line.startswith("DIST ")}
    assert "django" in dists, output  # the listing works: the app's own packages are there
    tooling = dists & {"stageline", "invoke", "docker", "nox", "pytest", "uv", "copier"}
    assert found == [], "the production image must hold no tooling files:\n" + "\n".join(found)
    assert tooling == set(), f"the production image must not install {sorted(tooling)}"


def test_image_runs_as_non_root_user(
    api: docker.APIClient, run_in_image: Runner, production_image: ProductionImage
) -> None:
    config = api.inspect_image(production_image.image_id)["Config"]
    assert config["User"] not in ("", "root", "0")
    code, output = run_in_image(["id", "-u"])
    assert code == 0, output
    assert int(output.strip()) != 0


def test_image_settings_and_secret_come_from_the_environment(
    api: docker.APIClient, production_image: ProductionImage
) -> None:
    config = api.inspect_image(production_image.image_id)["Config"]
    env = dict(item.split("=", 1) for item in config["Env"] or [])
    assert env.get("DJANGO_SETTINGS_MODULE") == "config.settings.production"
    assert "DJANGO_SECRET_KEY" not in env
    # Neither an ARG nor an ENV may carry a secret key into the image's metadata.
    for layer in api.history(production_image.image_id):
        created_by = layer.get("CreatedBy") or ""
        assert not re.search(r"\b(ARG|ENV)\s+DJANGO_SECRET_KEY", created_by)
    assert "8000/tcp" in (config.get("ExposedPorts") or {})


def test_check_deploy_passes_with_production_environment(run_in_image: Runner) -> None:
    environment = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "stageline.example.com",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://stageline.example.com",
        "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    }
    code, output = run_in_image(
        ["python3", "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        environment,
    )
    assert code == 0, output


def test_container_migrates_the_database(api: docker.APIClient, production_server: Server) -> None:
    exec_id = api.exec_create(
        production_server.container_id, ["python3", "manage.py", "migrate", "--check"]
    )
    output = api.exec_start(exec_id).decode(errors="replace")
    assert api.exec_inspect(exec_id)["ExitCode"] == 0, output


def test_container_serves_home_page_and_healthz(production_server: Server) -> None:
    with urllib.request.urlopen(f"{production_server.url}/", timeout=10) as response:
        assert response.status == 200
        html = response.read().decode()
    assert "<script" in html
    assert "/static/" in html
    with urllib.request.urlopen(f"{production_server.url}/healthz", timeout=10) as response:
        assert response.status == 200
        assert "json" in response.headers.get("Content-Type", "")


def test_hashed_static_files_are_served_with_far_future_cache_headers(
    production_server: Server,
) -> None:
    with urllib.request.urlopen(f"{production_server.url}/", timeout=10) as response:
        html = response.read().decode()
    assets = sorted(set(re.findall(r"""(?:src|href)=["'](/static/[^"']+\.(?:js|css))["']""", html)))
    assert any(a.endswith(".js") for a in assets), html
    assert any(a.endswith(".css") for a in assets), html
    for asset in assets:
        # The manifest storage appends a content hash: name.<12 hex>.ext
        assert re.search(r"\.[0-9a-f]{12}\.(?:js|css)$", asset), asset
        with urllib.request.urlopen(f"{production_server.url}{asset}", timeout=10) as response:
            assert response.status == 200
            cache_control = response.headers.get("Cache-Control", "")
            assert "max-age=315360000" in cache_control, (asset, cache_control)
            assert "immutable" in cache_control, (asset, cache_control)
            assert len(response.read()) > 0


def test_entrypoint_gives_up_on_an_unreachable_database(
    run_in_image: Runner, unused_port: int
) -> None:
    port = unused_port
    started = time.monotonic()
    code, output = run_in_image(
        ["echo", "the command must not run"],
        {
            "DATABASE_URL": f"postgres://stageline:secret-pw@127.0.0.1:{port}/stageline",
            "DATABASE_WAIT_SECONDS": "2",
        },
        timeout=60,
    )
    elapsed = time.monotonic() - started
    lines = [line for line in output.splitlines() if line.strip()]
    assert code == 1, output
    assert len(lines) == 1, output
    assert f"127.0.0.1:{port}" in lines[0]
    assert "secret-pw" not in output
    assert elapsed < 30, f"the wait took {elapsed:.0f}s for a 2s limit"
