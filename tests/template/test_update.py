"""A template improvement, released as the next tag, reaches a project by `copier update`.

Each test releases this working tree as the newest version CHANGELOG.md records (vN),
starts a project from it, commits local edits there, releases a changed template as the
next minor version (vN+1, with its CHANGELOG entry), and runs the documented
`copier update --defaults --trust` with no terminal, as CI would.

One test moves a project from the last release with the vendored layout (1.0.0: the
library in stageline/, the harness in testing/, the tooling's tests in tests/) onto the
package: this working tree released as vN after that commit.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from testing.checks import require

from tests.template.conftest import (
    ACME,
    REPO_ROOT,
    TEMPLATE_TAG,
    TEMPLATE_VERSION,
    answers_args,
    copier,
    git,
    make_template_repo,
    start_project,
    tag_of,
    working_tree_files,
)

pytestmark = pytest.mark.template

NEXT_VERSION = (TEMPLATE_VERSION[0], TEMPLATE_VERSION[1] + 1, 0)
NEXT_TAG = tag_of(NEXT_VERSION)
# The project README comes from README.md.jinja: a change there reaches the project.
README_ANCHOR = "\n## Run it\n\n"
LOCAL_SECTION = "\n## Deploying the shop\n\nAcme's own notes: deploy on Tuesdays.\n"
TEMPLATE_SENTENCE = f"Template {NEXT_TAG}: the cache survives a runner's reboot too."
COMPOSE_ANCHOR = "      GUNICORN_WORKERS: ${GUNICORN_WORKERS:-2}\n"
COMPOSE_ADDED = "      DJANGO_LOG_LEVEL: ${DJANGO_LOG_LEVEL:-info}\n"
# A question the new version adds: --defaults answers it without asking.
NEW_QUESTION = (
    "\nsupport_email:\n  type: str\n  help: Where users write to\n  default: help@example.com\n"
)


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in ``path`` with ``new``."""
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name} no longer contains {old!r} once; update this test"
    path.write_text(text.replace(old, new))


def release_next_version(template: Path, environ: dict[str, str]) -> None:
    """Commit the template's working tree as the next version: CHANGELOG entry and tag."""
    today = datetime.date.today().isoformat()
    heading = "## {}.{}.{} - {}\n\n### Added\n\n- The test's improvement.\n\n".format(
        *NEXT_VERSION, today
    )
    edit(template / "CHANGELOG.md", "\n## Unreleased\n", f"\n## Unreleased\n\n{heading}")
    git(template, "add", "--all", env=environ)
    git(template, "commit", "--quiet", "--message", f"Release {NEXT_TAG}", env=environ)
    git(template, "tag", NEXT_TAG, env=environ)


@pytest.fixture
def template_and_project(tmp_path: Path, environ: dict[str, str]) -> tuple[Path, Path]:
    """Return a template released as TEMPLATE_TAG and a project started from it."""
    template = make_template_repo(tmp_path / "template", environ, tag=TEMPLATE_TAG)
    project = start_project(template, tmp_path / "shop", ACME, environ)
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == TEMPLATE_TAG
    return template, project


def test_update_brings_a_template_release_and_keeps_local_edits(
    template_and_project: tuple[Path, Path], environ: dict[str, str]
) -> None:
    template, project = template_and_project
    secret = (project / ".env").read_text()

    # The project's own work, committed (copier update refuses a dirty repository).
    readme = project / "README.md"
    readme.write_text(readme.read_text() + LOCAL_SECTION)
    edit(project / "assets/css/main.css", "#1f3b57", "#7a1f1f")
    git(project, "commit", "--quiet", "--all", "--message", "Local edits", env=environ)

    # A change to a templated file, a plain file, a new file and a new question.
    edit(template / "README.md.jinja", README_ANCHOR, f"{README_ANCHOR}{TEMPLATE_SENTENCE}\n\n")
    edit(template / "docker-compose.yml", COMPOSE_ANCHOR, COMPOSE_ANCHOR + COMPOSE_ADDED)
    (template / "deploy").mkdir()
    (template / "deploy/notes.md").write_text(f"# Deploying\n\nFrom the template's {NEXT_TAG}.\n")
    (template / "deploy/support.md.jinja").write_text("Write to {{ support_email }}.\n")
    (template / "copier.yml").write_text((template / "copier.yml").read_text() + NEW_QUESTION)
    release_next_version(template, environ)

    copier("update", "--defaults", "--trust", cwd=project, env=environ)

    readme_text = readme.read_text()
    assert TEMPLATE_SENTENCE in readme_text, "the template's change did not arrive"
    assert readme_text.endswith(LOCAL_SECTION), "the local README section was lost"
    assert readme_text.startswith("# Acme Shop\n"), "the update brought back the template's name"
    compose = (project / "docker-compose.yml").read_text()
    assert COMPOSE_ADDED in compose
    assert "\nname: acme_shop\n" in compose
    assert (project / "deploy/notes.md").read_text().endswith(f"From the template's {NEXT_TAG}.\n")
    assert (project / "deploy/support.md").read_text() == "Write to help@example.com.\n"
    assert "#7a1f1f" in (project / "assets/css/main.css").read_text(), "the local edit was lost"
    assert not (project / "CHANGELOG.md").exists(), "the template's changelog stays behind"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == NEXT_TAG
    assert answers["image"] == ACME["image"]
    assert answers["support_email"] == "help@example.com"
    assert (project / ".env").read_text() == secret, "the update replaced the secret key"
    status = git(project, "status", "--porcelain", env=environ)
    assert not [line for line in status.splitlines() if line.endswith(".rej")], status
    conflicted = git(project, "diff", "--name-only", "--diff-filter=U", env=environ)
    assert conflicted == "", f"unmerged after the update: {conflicted}"


def change_workers_on_both_sides(
    template: Path, project: Path, environ: dict[str, str]
) -> tuple[str, str]:
    """Change the same docker-compose.yml line in the project (committed: 4 workers) and in
    the template (3 workers); return the project's line and the template's.
    """
    local = COMPOSE_ANCHOR.replace(":-2}", ":-4}")
    upstream = COMPOSE_ANCHOR.replace(":-2}", ":-3}")
    edit(project / "docker-compose.yml", COMPOSE_ANCHOR, local)
    git(project, "commit", "--quiet", "--all", "--message", "Four workers", env=environ)
    edit(template / "docker-compose.yml", COMPOSE_ANCHOR, upstream)
    return local, upstream


def test_a_line_changed_on_both_sides_is_left_with_conflict_markers_to_resolve(
    template_and_project: tuple[Path, Path], environ: dict[str, str]
) -> None:
    """What README's "Starting a project from the template" tells a user to look for."""
    template, project = template_and_project
    local, upstream = change_workers_on_both_sides(template, project, environ)
    edit(template / "README.md.jinja", README_ANCHOR, f"{README_ANCHOR}{TEMPLATE_SENTENCE}\n\n")
    release_next_version(template, environ)

    copier("update", "--defaults", "--trust", cwd=project, env=environ)

    compose = (project / "docker-compose.yml").read_text()
    assert "<<<<<<< before updating\n" + local in compose
    assert "=======\n" + upstream + ">>>>>>> after updating\n" in compose
    assert TEMPLATE_SENTENCE in (project / "README.md").read_text(), "the rest still arrived"
    # git lists it as unmerged ("both modified"): resolve, `git add` it, commit.
    status = git(project, "status", "--porcelain", env=environ).splitlines()
    assert "UU docker-compose.yml" in status, status
    assert " M README.md" in status, status


def test_with_conflict_rej_the_file_takes_the_template_and_the_rej_holds_the_local_edit(
    template_and_project: tuple[Path, Path], environ: dict[str, str]
) -> None:
    """Issue 26, item 2: the docs said the opposite (FILE kept, template hunk in .rej)."""
    template, project = template_and_project
    local, upstream = change_workers_on_both_sides(template, project, environ)
    release_next_version(template, environ)

    copier("update", "--defaults", "--trust", "--conflict", "rej", cwd=project, env=environ)

    compose = (project / "docker-compose.yml").read_text()
    assert upstream in compose, "the file takes the template's new version"
    assert local not in compose
    assert "<<<<<<<" not in compose
    rejected = (project / "docker-compose.yml.rej").read_text()
    assert f"+{local}" in rejected, "the .rej holds the project's own edit"
    assert f"-{COMPOSE_ANCHOR}" in rejected
    page = (REPO_ROOT / "docs/getting-started.md").read_text()
    said = page.split("With `--conflict rej`", 1)[1].split("\n\n", 1)[0]
    assert "`FILE` takes the template's new version" in said
    assert "your own edit" in said


def test_a_project_made_from_a_relative_path_updates(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    """Issue 26, item 4: `copier copy stageline shop` recorded `_src_path: stageline`, which
    `copier update` looked for inside the project."""
    template = make_template_repo(tmp_path / "stageline", environ)
    copier(
        "copy",
        "--trust",
        "--defaults",
        *answers_args(ACME),
        "stageline",
        "shop",
        cwd=tmp_path,
        env=environ,
    )
    project = tmp_path / "shop"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_src_path"] == str(template.resolve()), "recorded by its absolute path"
    edit(template / "README.md.jinja", README_ANCHOR, f"{README_ANCHOR}{TEMPLATE_SENTENCE}\n\n")
    release_next_version(template, environ)

    copier("update", "--defaults", "--trust", cwd=project, env=environ)

    assert TEMPLATE_SENTENCE in (project / "README.md").read_text()
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == NEXT_TAG
    assert answers["_src_path"] == str(template.resolve())


def test_a_template_url_is_recorded_as_given(tmp_path: Path, environ: dict[str, str]) -> None:
    """Only a relative local path is made absolute; a URL stays as the user gave it."""
    template = make_template_repo(tmp_path / "template", environ)
    url = f"git+file://{template}"
    copier(
        "copy",
        "--trust",
        "--defaults",
        "--skip-tasks",
        *answers_args(ACME),
        url,
        "shop",
        cwd=tmp_path,
        env=environ,
    )
    answers = yaml.safe_load((tmp_path / "shop/.copier-answers.yml").read_text())
    assert answers["_src_path"] == url


# The last release whose projects vendored the tooling, and its tag.
VENDORED_COMMIT = "291b965"
VENDORED_TAG = "v1.0.0"
# What 1.0.0 put in a project and 2.0.0 does not: copier deletes the files the template no
# longer has if the project left them unchanged; copier.yml's migration removes the rest
# (folders the template still has but leaves out of projects, and edited vendored files).
VENDORED = [
    "stageline",
    "testing",
    ".ci",
    "tests/stageline",
    "tests/pipeline",
    "tests/faults",
    "tests/docker",
    "tests/e2e",
    "tests/gitlab",
    "tests/tooling",
    "tests/conftest.py",
    "requirements/tasks.txt",
]
VIEW_EDIT = (
    '\n\ndef about(request: HttpRequest) -> HttpResponse:\n    return HttpResponse("Acme")\n'
)
PAGE_EDIT = "<!-- Acme: anvils on sale -->\n"


def vendored_release(destination: Path, environ: dict[str, str]) -> Path:
    """Return a template repository holding 1.0.0 (the vendored layout), tagged v1.0.0."""
    known = subprocess.run(
        ["git", "cat-file", "-e", f"{VENDORED_COMMIT}^{{commit}}"], cwd=REPO_ROOT, check=False
    )
    if known.returncode != 0:
        require(
            f"this clone lacks commit {VENDORED_COMMIT} (the 1.0.0 release)",
            "fetch the history: git fetch --unshallow",
        )
    destination.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", VENDORED_COMMIT], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive, check=True)
    git(destination, "init", "--quiet", "--initial-branch=main", env=environ)
    git(destination, "add", "--all", env=environ)
    git(destination, "commit", "--quiet", "--message", "Release 1.0.0", env=environ)
    git(destination, "tag", VENDORED_TAG, env=environ)
    return destination


def release_working_tree(template: Path, environ: dict[str, str]) -> None:
    """Commit this working tree over ``template``'s files as TEMPLATE_TAG."""
    git(template, "rm", "-r", "--quiet", ".", env=environ)
    for name in working_tree_files():
        target = template / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target, follow_symlinks=False)
    git(template, "add", "--all", env=environ)
    git(template, "commit", "--quiet", "--message", f"Release {TEMPLATE_TAG}", env=environ)
    git(template, "tag", TEMPLATE_TAG, env=environ)


def test_update_from_the_vendored_release_arrives_at_the_package_layout(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    assert TEMPLATE_VERSION[0] > 1, "this working tree is not a release after 1.0.0"
    template = vendored_release(tmp_path / "template", environ)
    project = start_project(template, tmp_path / "shop", ACME, environ)
    assert (project / "stageline/plan.py").is_file(), "1.0.0 vendored the library"
    secret = (project / ".env").read_text()
    # The project's own work: an app view and page, and a fix to the vendored harness.
    views = project / "core/views.py"
    views.write_text(views.read_text() + VIEW_EDIT)
    page = project / "core/templates/core/home.html"
    page.write_text(PAGE_EDIT + page.read_text())
    checks = project / "testing/checks.py"
    checks.write_text(checks.read_text() + "# Acme: a local fix\n")
    git(project, "commit", "--quiet", "--all", "--message", "Acme's edits", env=environ)
    release_working_tree(template, environ)

    copier("update", "--defaults", "--trust", cwd=project, env=environ)

    left = [name for name in VENDORED if (project / name).exists()]
    assert not left, f"the vendored tooling is still there after the update: {left}"
    pins = (project / "requirements/build.txt").read_text().splitlines()
    assert "stageline[invoke]=={}.{}.{}".format(*TEMPLATE_VERSION) in pins
    tasks = (project / "tasks.py").read_text()
    assert "from stageline.tasks import collection\n" in tasks
    assert views.read_text().endswith(VIEW_EDIT), "the project's view was lost"
    assert page.read_text().startswith(PAGE_EDIT), "the project's page edit was lost"
    assert (project / "tests/web/test_home.py").is_file(), "the app's tests stay"
    assert (project / ".env").read_text() == secret
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == TEMPLATE_TAG
    assert {name: answers[name] for name in ACME} == ACME
    conflicted = git(project, "diff", "--name-only", "--diff-filter=U", env=environ)
    assert conflicted == "", f"unmerged after the update: {conflicted}"
    status = git(project, "status", "--porcelain", env=environ)
    assert not [line for line in status.splitlines() if line.endswith(".rej")], status
    # What is left is an ordinary commit of the new layout.
    git(project, "add", "--all", env=environ)
    git(project, "commit", "--quiet", "--message", "Template 2.0.0", env=environ)
    tracked = git(project, "ls-files", env=environ).split()
    assert not [name for name in tracked if name.startswith(("stageline/", "testing/", ".ci/"))]
