"""Fixtures for the Django tests: a fake webpack build that needs no Node."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from webpack_loader.utils import get_loader

REPO_ROOT = Path(__file__).resolve().parents[2]


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
