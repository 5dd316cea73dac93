"""Which branches and git tags exist, as git tells (an effect; prune_policy decides).

A checkout with a remote ``origin`` asks it (``git ls-remote --heads --tags origin``):
a GitLab job's clone has it, reachable with the job's token, and its local refs are
only the ref it checked out. Without ``origin`` the local refs are read
(``git for-each-ref refs/heads refs/tags``). A git that cannot answer is an error: prune
never takes "no answer" for "no branches".
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from stageline.errors import GitError
from stageline.prune_policy import LiveRefs

GIT_TIMEOUT = 120


def run_git(root: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    """Return what ``git -C root ARGS`` did (no prompt for credentials); None without git."""
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=GIT_TIMEOUT,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except FileNotFoundError:
        raise GitError("git is not installed: prune reads the branches with git.") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} did not answer within {GIT_TIMEOUT} s.") from None


def ref_names(lines: str, field: int) -> tuple[frozenset[str], frozenset[str]]:
    """Return the branch and tag names of ``refs/heads/...`` and ``refs/tags/...`` lines."""
    branches, tags = set(), set()
    for line in lines.splitlines():
        parts = line.split()
        ref = parts[field] if len(parts) > field else ""
        if ref.startswith("refs/heads/"):
            branches.add(ref.removeprefix("refs/heads/"))
        elif ref.startswith("refs/tags/"):
            tags.add(ref.removeprefix("refs/tags/").removesuffix("^{}"))
    return frozenset(branches), frozenset(tags)


def has_origin(root: Path) -> bool:
    """Return whether the checkout at ``root`` has a remote ``origin``."""
    found = run_git(root, "remote", "get-url", "origin")
    return found is not None and found.returncode == 0


def read_live_refs(root: Path, default_branch: str) -> tuple[LiveRefs, str]:
    """Return the refs that exist, and where they were read (``origin`` or local refs)."""
    if has_origin(root):
        answer = run_git(root, "ls-remote", "--heads", "--tags", "origin")
        source, field = "origin", 1
    else:
        answer = run_git(root, "for-each-ref", "--format=%(refname)", "refs/heads", "refs/tags")
        source, field = "local refs", 0
    if answer is None or answer.returncode != 0:
        first = (answer.stderr.strip().splitlines() or ["no output"])[0] if answer else ""
        raise GitError(
            f"cannot read the branches from {source} of {root} ({first}); prune needs a git "
            "checkout of the project (in CI: not GIT_STRATEGY none)."
        )
    branches, tags = ref_names(answer.stdout, field)
    return LiveRefs(default_branch, branches, tags), source
