"""Bad answers are refused with a message that names the answer and what to give instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.template.conftest import ACME, answers_args, copier

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
