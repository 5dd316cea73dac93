"""Fixtures for the Django tests: a fake webpack build that needs no Node."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from webpack_loader.utils import get_loader

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """Return a TCP port that is free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_python(
    env: Mapping[str, str], *args: str, cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` (this interpreter) in ``cwd`` with ``env``; capture its output."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_error_line(result: subprocess.CompletedProcess[str], start: str) -> str:
    """Assert a clean failure: exit 1, no traceback, one stderr line ``error: START...``."""
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {start}"), lines[0]
    return lines[0]


@dataclass(frozen=True)
class FakeBuild:
    """What `npm run build` would have written, in a temporary directory."""

    stats_file: Path
    bundles_dir: Path
    js_name: str
    css_name: str


def write_fake_build(root: Path, status: str = "done") -> FakeBuild:
    """Write content-hashed bundles and a webpack-stats.json like webpack-bundle-tracker's."""
    bundles = root / "bundles"
    bundles.mkdir(parents=True)
    js_name, css_name = "main.0a1b2c3d.js", "main.4e5f6a7b.css"
    (bundles / js_name).write_text('document.body.dataset.bundle = "loaded";\n')
    (bundles / css_name).write_text("body { background-color: #1f3b57; }\n")
    stats = {
        "status": status,
        "publicPath": "auto",
        "assets": {
            name: {"name": name, "path": name, "publicPath": "auto"} for name in (css_name, js_name)
        },
        "chunks": {"main": [css_name, js_name]},
    }
    stats_file = root / "webpack-stats.json"
    stats_file.write_text(json.dumps(stats))
    return FakeBuild(stats_file, bundles, js_name, css_name)


PointLoader = Callable[[Path], None]


@pytest.fixture
def point_loader_at(monkeypatch: pytest.MonkeyPatch) -> PointLoader:
    """Return a function that makes django-webpack-loader read another stats file.

    django-webpack-loader reads WEBPACK_LOADER once, at import, and caches its loader, so
    override_settings cannot change the stats file; the loader's own config can.
    """

    def point(stats_file: Path) -> None:
        monkeypatch.setitem(get_loader("DEFAULT").config, "STATS_FILE", str(stats_file))

    return point


@pytest.fixture
def fake_build(tmp_path: Path, point_loader_at: PointLoader) -> FakeBuild:
    """Serve a fake webpack build from a temporary directory."""
    build = write_fake_build(tmp_path / "dist")
    point_loader_at(build.stats_file)
    return build
