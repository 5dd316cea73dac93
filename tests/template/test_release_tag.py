"""The released version is a git tag of this repository, and copier records it.

CHANGELOG.md's newest version must be the annotated tag ``vX.Y.Z`` on a commit of this
history whose changelog, package version and template pin say X.Y.Z (docs/releasing.md
says how to make it). ``copier copy`` from this repository then records that tag as
``_commit`` in the project's .copier-answers.yml, which ``copier update`` starts from.
What docs/getting-started.md says about copies without tags is checked here too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
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
    released_versions,
    start_project,
)

pytestmark = pytest.mark.template

VERSION = "{}.{}.{}".format(*TEMPLATE_VERSION)


def repository_git(*args: str) -> subprocess.CompletedProcess[str]:
    """Run git in this repository (not a copy of it)."""
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def release_tag() -> str:
    """Return the newest version's tag; fail if this repository lacks it (skip if shallow)."""
    if repository_git("rev-parse", "--git-dir").returncode != 0:
        require("this checkout is not a git repository", "run the tests from a git clone")
    if repository_git("rev-parse", "-q", "--verify", f"refs/tags/{TEMPLATE_TAG}").returncode:
        shallow = repository_git("rev-parse", "--is-shallow-repository").stdout.strip()
        if shallow == "true":
            require(f"this shallow clone lacks the tag {TEMPLATE_TAG}", "git fetch --tags")
        if not repository_git("tag", "--list").stdout.strip():
            # A clone made without any tag (git clone --no-tags, or a branch pushed alone)
            # says nothing about the release; one with other tags but not this one does.
            pytest.skip(f"this clone has no tags at all, so not {TEMPLATE_TAG}: git fetch --tags")
        pytest.fail(
            f"CHANGELOG.md's newest version is {VERSION} but git has no tag {TEMPLATE_TAG}: "
            f"tag the release commit (docs/releasing.md): git tag -a {TEMPLATE_TAG} -m ...",
            pytrace=False,
        )
    return TEMPLATE_TAG


def test_the_newest_version_is_an_annotated_tag_of_this_history(release_tag: str) -> None:
    assert repository_git("cat-file", "-t", release_tag).stdout.strip() == "tag", (
        f"{release_tag} is a lightweight tag: make it annotated (git tag -a)"
    )
    ancestor = repository_git("merge-base", "--is-ancestor", release_tag, "HEAD")
    assert ancestor.returncode == 0, f"{release_tag} is not a commit of this branch's history"


def test_the_tagged_commit_is_that_release(release_tag: str) -> None:
    """At the tag, the changelog's newest version, the package and the pin are the tag's."""

    def at_tag(path: str) -> str:
        shown = repository_git("show", f"{release_tag}:{path}")
        assert shown.returncode == 0, shown.stderr
        return shown.stdout

    changelog = at_tag("CHANGELOG.md")
    assert released_versions(changelog)[0] == TEMPLATE_VERSION
    assert re.search(r"^## Unreleased\n+## ", changelog, re.MULTILINE), (
        f"{release_tag}'s CHANGELOG.md has entries under Unreleased: not the release commit"
    )
    package = tomllib.loads(at_tag("package/pyproject.toml"))
    assert package["project"]["version"] == VERSION
    assert f"stageline[invoke]=={VERSION}" in at_tag("requirements/build.txt").splitlines()


def copy_this_repository(
    destination: Path, environ: dict[str, str], *options: str
) -> dict[str, object]:
    """Copy this repository (its tags, not a test copy) and return the answers file."""
    copier(
        "copy",
        "--trust",
        "--defaults",
        "--skip-tasks",
        *options,
        *answers_args(ACME),
        str(REPO_ROOT),
        str(destination),
        cwd=destination.parent,
        env=environ,
    )
    answers: dict[str, object] = yaml.safe_load((destination / ".copier-answers.yml").read_text())
    return answers


def test_copier_copy_records_the_release_tag(
    release_tag: str, environ: dict[str, str], tmp_path: Path
) -> None:
    answers = copy_this_repository(tmp_path / "shop", environ)
    assert answers["_commit"] == release_tag, "copier takes the newest tag"


def test_a_copy_of_a_later_commit_records_it_from_the_tag(
    release_tag: str, environ: dict[str, str], tmp_path: Path
) -> None:
    answers = copy_this_repository(tmp_path / "shop", environ, "--vcs-ref", "HEAD")
    since = int(repository_git("rev-list", "--count", f"{release_tag}..HEAD").stdout)
    if since == 0:
        assert answers["_commit"] == release_tag
        return
    # git describe: <tag>-<commits since it>-g<HEAD's abbreviated hash>
    found = re.fullmatch(
        rf"{re.escape(release_tag)}-(\d+)-g([0-9a-f]{{7,}})", str(answers["_commit"])
    )
    assert found, f"_commit {answers['_commit']!r} is not derived from {release_tag}"
    # A local path's uncommitted changes become one more commit in copier's clone.
    dirty = bool(repository_git("status", "--porcelain").stdout.strip())
    assert int(found[1]) == since + dirty
    if not dirty:
        assert repository_git("rev-parse", "HEAD").stdout.startswith(found[2])


def test_releasing_says_how_to_tag() -> None:
    page = (REPO_ROOT / "docs/releasing.md").read_text()
    assert "git tag -a vX.Y.Z" in page, "docs/releasing.md: an annotated tag"
    assert "git push --atomic origin main vX.Y.Z" in page, "the commit and its tag together"
    assert "tests/template/test_release_tag.py" in page


# What docs/getting-started.md says of copies without tags.


def test_an_untagged_clone_records_the_commit_and_updates_to_the_newest_commit(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    template = make_template_repo(tmp_path / "template", environ)
    git(template, "tag", "--delete", TEMPLATE_TAG, env=environ)
    project = start_project(template, tmp_path / "shop", ACME, environ)
    first = yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"]
    assert git(template, "rev-parse", "HEAD", env=environ).startswith(first)
    (template / "NEWS.md").write_text("A later commit, no tag.\n")
    git(template, "add", "NEWS.md", env=environ)
    git(template, "commit", "--quiet", "--message", "Later", env=environ)
    copier("update", "--defaults", "--trust", cwd=project, env=environ)
    assert (project / "NEWS.md").is_file()
    later = yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"]
    assert later != first
    assert git(template, "rev-parse", "HEAD", env=environ).startswith(later)
    page = (REPO_ROOT / "docs/getting-started.md").read_text()
    assert "records the commit's short hash" in page


def test_a_copy_from_an_archive_cannot_update(tmp_path: Path, environ: dict[str, str]) -> None:
    template = make_template_repo(tmp_path / "template", environ)
    shutil.rmtree(template / ".git")
    project = start_project(template, tmp_path / "shop", ACME, environ)
    assert "_commit" not in yaml.safe_load((project / ".copier-answers.yml").read_text())
    update = copier("update", "--defaults", "--trust", cwd=project, env=environ, check=False)
    assert update.returncode != 0
    assert "cannot obtain old template references" in update.output
    page = (REPO_ROOT / "docs/getting-started.md").read_text()
    assert "cannot obtain old template references" in page
