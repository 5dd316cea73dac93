"""Bad answers are refused with a message that names the answer and what to give instead."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from tests.template.conftest import ACME, REPO_ROOT, answers_args, copier, start_project

pytestmark = pytest.mark.template


def copy_args(template: Path, destination: Path, answers: dict[str, str]) -> list[str]:
    """Return copier's arguments that copy ``template`` to ``destination`` with ``answers``."""
    return [
        "copy",
        "--trust",
        "--defaults",
        *answers_args(answers),
        str(template),
        str(destination),
    ]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("slug", "Acme-Shop!", "lower-case letters, digits and single underscores"),
        ("slug", "2shop", "starting with a letter"),
        ("slug", "class", "is a Python keyword"),
        ("image", "Registry.example.com/Acme/Shop:latest", "is not a Docker image name"),
        ("default_branch", "-trunk", "is not a usable git branch name"),
        ("project_name", "", "project_name must not be empty"),
    ],
)
def test_bad_answer_is_refused(
    name: str,
    value: str,
    expected: str,
    template_repo: Path,
    environ: dict[str, str],
    tmp_path: Path,
) -> None:
    destination = tmp_path / "project"
    answers = {**ACME, name: value}
    result = copier(
        *copy_args(template_repo, destination, answers), cwd=tmp_path, env=environ, check=False
    )
    assert result.returncode != 0, f"copier accepted {name}={value!r}:\n{result.output[-2000:]}"
    # copier 9 prints a traceback for an answer given with --data (asked interactively, it
    # asks again); its last line is the template's message.
    message = result.output.strip().splitlines()[-1]
    assert expected in message
    if value:
        assert f'"{value}"' in message, "the message names the refused answer"
    assert not destination.exists() or not any(destination.iterdir())


def test_slug_defaults_from_the_name(
    template_repo: Path, environ: dict[str, str], tmp_path: Path
) -> None:
    answers = {"project_name": "Acme Shop 2"}
    copier(*copy_args(template_repo, tmp_path / "p", answers), cwd=tmp_path, env=environ)
    pyproject = (tmp_path / "p/pyproject.toml").read_text()
    assert '\nimage = "acme_shop_2"\n' in pyproject, "the image defaults to the slug"
    assert '\ndefault-branch = "main"\n' in pyproject


def documented_copy_commands() -> list[tuple[str, str]]:
    """Return (page, command) for each `copier copy --defaults` line in a shell block of
    README.md and docs/getting-started.md: the commands that must run without a terminal."""
    found = []
    for page in ("README.md", "docs/getting-started.md"):
        text = (REPO_ROOT / page).read_text()
        for block in re.findall(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
            for line in block.splitlines():
                command = line.split("  #", 1)[0].strip()
                if command.startswith("copier copy") and "--defaults" in command:
                    found.append((page, command))
    return found


def test_readme_shows_a_copy_command_that_needs_no_terminal() -> None:
    assert [page for page, _ in documented_copy_commands()].count("README.md") >= 1


@pytest.mark.parametrize(("page", "command"), documented_copy_commands())
def test_a_documented_copy_command_works_with_defaults_alone(
    page: str, command: str, template_repo: Path, environ: dict[str, str], tmp_path: Path
) -> None:
    """Issue 26, item 3: README's command ended in a traceback (project_name had no default)."""
    args = shlex.split(
        command.replace("<this repository>", "TEMPLATE").replace("<template>", "TEMPLATE")
    )
    assert args[:2] == ["copier", "copy"], command
    args = [str(template_repo) if arg == "TEMPLATE" else arg for arg in args[1:]]
    result = copier(*args, cwd=tmp_path, env=environ, check=False)
    assert result.returncode == 0, f"{page}: `{command}` failed:\n{result.output[-2000:]}"
    answers = yaml.safe_load((tmp_path / args[-1] / ".copier-answers.yml").read_text())
    assert answers["project_name"] == "Acme Shop", "the name comes from the folder"
    assert answers["slug"] == "acme_shop"
    assert answers["image"] == "acme_shop"


@pytest.mark.parametrize(
    ("folder", "name", "slug"),
    [
        ("2024", "2024", "project"),
        ("___", "New Project", "new_project"),
        ("Café-Bar", "Café Bar", "caf_bar"),
    ],
)
def test_defaults_from_any_folder_name_are_valid_answers(
    folder: str, name: str, slug: str, template_repo: Path, environ: dict[str, str], tmp_path: Path
) -> None:
    """--defaults takes defaults unchecked: each must pass its question's validator."""
    copier(
        "copy",
        "--trust",
        "--defaults",
        "--skip-tasks",
        str(template_repo),
        folder,
        cwd=tmp_path,
        env=environ,
    )
    answers = yaml.safe_load((tmp_path / folder / ".copier-answers.yml").read_text())
    assert (answers["project_name"], answers["slug"]) == (name, slug)
    # The same answers given with --data pass the validators.
    given = {"project_name": name, "slug": slug}
    start_project(template_repo, tmp_path / "checked", given, environ, ["--skip-tasks"])
