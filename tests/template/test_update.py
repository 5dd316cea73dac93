"""A template improvement, released as a new tag, reaches a project by `copier update`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.template.conftest import ACME, copier, git, make_template_repo, start_project

pytestmark = pytest.mark.template

LOCAL_SECTION = "\n## Deploying the shop\n\nAcme's own notes: deploy on Tuesdays.\n"
TEMPLATE_SENTENCE = "Template v1.1.0: the cache survives a runner's reboot too."
COMPOSE_ANCHOR = "      GUNICORN_WORKERS: ${GUNICORN_WORKERS:-2}\n"
COMPOSE_ADDED = "      DJANGO_LOG_LEVEL: ${DJANGO_LOG_LEVEL:-info}\n"


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in ``path`` with ``new``."""
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name} no longer contains {old!r} once; update this test"
    path.write_text(text.replace(old, new))


def test_update_brings_a_template_release_and_keeps_local_edits(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    template = make_template_repo(tmp_path / "template", environ, tag="v1.0.0")
    project = start_project(template, tmp_path / "shop", ACME, environ)
    secret = (project / ".env").read_text()

    # The project's own work, committed (copier update refuses a dirty repository).
    readme = project / "README.md"
    readme.write_text(readme.read_text() + LOCAL_SECTION)
    edit(project / "assets/css/main.css", "#1f3b57", "#7a1f1f")
    git(project, "commit", "--quiet", "--all", "--message", "Local edits", env=environ)

    # A template improvement in a templated file, a plain file and a new file: v1.1.0.
    edit(template / "README.md", "\n## Why\n\n", f"\n## Why\n\n{TEMPLATE_SENTENCE}\n\n")
    edit(template / "docker-compose.yml", COMPOSE_ANCHOR, COMPOSE_ANCHOR + COMPOSE_ADDED)
    (template / "docs").mkdir()
    (template / "docs/deploy.md").write_text("# Deploying\n\nFrom the template's v1.1.0.\n")
    git(template, "add", "--all", env=environ)
    git(template, "commit", "--quiet", "--message", "Improve the template", env=environ)
    git(template, "tag", "v1.1.0", env=environ)

    copier("update", "--trust", "--defaults", cwd=project, env=environ)

    readme_text = readme.read_text()
    assert TEMPLATE_SENTENCE in readme_text, "the template's change did not arrive"
    assert readme_text.endswith(LOCAL_SECTION), "the local README section was lost"
    assert readme_text.startswith("# Acme Shop\n"), "the update brought back the template's name"
    compose = (project / "docker-compose.yml").read_text()
    assert COMPOSE_ADDED in compose
    assert "\nname: acme_shop\n" in compose
    assert (project / "docs/deploy.md").read_text().endswith("From the template's v1.1.0.\n")
    assert "#7a1f1f" in (project / "assets/css/main.css").read_text(), "the local edit was lost"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v1.1.0"
    assert answers["image"] == ACME["image"]
    assert (project / ".env").read_text() == secret, "the update replaced the secret key"
    status = git(project, "status", "--porcelain", env=environ)
    assert not [line for line in status.splitlines() if line.endswith(".rej")], status
    conflicted = git(project, "grep", "-l", "-e", "^<<<<<<< ", env=environ, check=False)
    assert conflicted == "", f"conflict markers in: {conflicted}"
