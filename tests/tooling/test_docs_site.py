"""The docs site builds with --strict in the lint session, and without a network.

The build runs in a network namespace of its own (``unshare --net``: no interface but
loopback), so a plugin or theme that fetched anything at build time would fail it. A
broken link or anchor fails the strict build.
"""

from __future__ import annotations

import importlib.util
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from testing.checks import require

ROOT = Path(__file__).resolve().parents[2]
# MkDocs' own search index is built locally; Material's social cards, privacy and
# optimize plugins download fonts, images or assets at build time.
OFFLINE_PLUGINS = {"search"}


class MkDocsLoader(yaml.SafeLoader):
    """A safe loader that reads mkdocs.yml's `!!python/name:` tags as plain strings."""


MkDocsLoader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: suffix)


def offline_build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    """Run `mkdocs build --strict` for ``config`` with no network; skip where it cannot."""
    if importlib.util.find_spec("mkdocs") is None:
        require("mkdocs is not installed", "pip install -r requirements/docs.txt")
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "--net", "true"], check=False).returncode:
        require("unshare --net cannot run here (needs root)", "run as root, as CI does")
    command = [sys.executable, "-m", "mkdocs", "build", "--strict"]
    return subprocess.run(
        [unshare, "--net", *command, "--config-file", str(config), "--site-dir", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1", "HOME": str(site.parent)},
    )


def test_the_lint_session_builds_the_site_strict() -> None:
    spec = importlib.util.spec_from_file_location("template_noxfile", ROOT / "noxfile.py")
    assert spec is not None
    assert spec.loader is not None
    noxfile = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(noxfile)
    assert noxfile.build_docs in noxfile.LINT_CHECKS, "the lint session does not build the docs"
    assert "LINT_CHECKS" in inspect.getsource(noxfile.lint.func)
    assert '"build", "--strict"' in inspect.getsource(noxfile.build_docs)


def test_no_plugin_fetches_at_build_time() -> None:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=MkDocsLoader)
    plugins = config.get("plugins", ["search"])
    names = {next(iter(p)) if isinstance(p, dict) else p for p in plugins}
    assert names <= OFFLINE_PLUGINS, f"plugins that may fetch at build time: {names}"
    assert config.get("strict") is True


def test_the_site_builds_strict_without_a_network(tmp_path: Path) -> None:
    built = offline_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert (tmp_path / "site/index.html").is_file()
    assert (tmp_path / "site/failures/index.html").is_file()


def test_a_broken_anchor_fails_the_strict_build(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copy2(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    shutil.copy2(ROOT / "CHANGELOG.md", copy / "CHANGELOG.md")
    page = copy / "docs/failures.md"
    page.write_text(page.read_text() + "\nSee [the settings](reference/settings.md#no-such).\n")
    built = offline_build(copy / "mkdocs.yml", tmp_path / "site")
    assert built.returncode != 0
    assert "no-such" in built.stdout + built.stderr
