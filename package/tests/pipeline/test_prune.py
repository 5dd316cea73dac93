"""``stageline prune`` on a registry filled by real pipelines, read back from the registry.

A token-auth registry (as GitLab's) is filled by real ``build-stages --push`` runs of a
two-stage project with ``promote-merged`` on: three commits of ``main``, a branch that
stays and a branch deleted from ``origin`` afterwards (its local branch is kept, so the
refs must come from ``origin``), plus ``latest`` (the default branch's) and ``v1.0.0``
(a manifest copy of it, for the git tag). Every assertion reads the registry itself, with
a token of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stageline.registry_api import RegistryAPI
from testing.checks import free_port, require_builder
from testing.daemons import own_daemon
from testing.projects import make_project
from testing.registries import MANIFEST_TYPES, LoopbackRegistry, RegistryPool
from testing.runners import EmptyRunner, task_env
from testing.task_runner import assert_clean_failure, ok, run_task
from testing.token_service import SERVICE, TokenService
from tests.pipeline.test_registry_api import write_image

pytestmark = pytest.mark.docker

USER, PASSWORD = "gitlab-ci-token", "job-Token-s3cret"
REPOSITORY = "group/prune/app"
# Sixty days on: every image is older than keep-days (30) and key-keep-days (7).
NOW = (datetime.now(UTC) + timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
PYPROJECT = """\
[tool.stageline]
image = "tiny-app"
promote-merged = true
prune = {keep-last = 2, keep-days = 30, key-keep-days = 7}
"""
IDENTITY = {
    "GIT_AUTHOR_NAME": "Stageline Tests",
    "GIT_AUTHOR_EMAIL": "tests@stageline.invalid",
    "GIT_COMMITTER_NAME": "Stageline Tests",
    "GIT_COMMITTER_EMAIL": "tests@stageline.invalid",
}


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` and return its output."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **IDENTITY}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


class Reader:
    """Reads the registry with a pull token of its own (not through Stageline)."""

    def __init__(self, registry: LoopbackRegistry, tokens: TokenService) -> None:
        self.base = f"http://{registry.address}/v2/{REPOSITORY}"
        scope = f"repository:{REPOSITORY}:pull"
        self.headers = {"Authorization": f"Bearer {tokens.token(SERVICE, [scope])}"}

    def get(self, path: str, method: str = "GET") -> tuple[int, bytes, dict[str, str]]:
        headers = {**self.headers, "Accept": MANIFEST_TYPES}
        request = urllib.request.Request(f"{self.base}/{path}", headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, b"", {}

    def tags(self) -> dict[str, str]:
        """Return every tag with its manifest digest."""
        status, body, _ = self.get("tags/list?n=10000")
        assert status == 200
        names = json.loads(body).get("tags") or []
        return {
            tag: self.get(f"manifests/{tag}", "HEAD")[2]["Docker-Content-Digest"] for tag in names
        }

    def whole(self, digest: str) -> bool:
        """Return whether the manifest ``digest``, its children and their blobs all resolve."""
        status, body, _ = self.get(f"manifests/{digest}")
        if status != 200:
            return False
        document = json.loads(body)
        children = [child["digest"] for child in document.get("manifests", [])]
        blobs = [document["config"]["digest"]] if "config" in document else []
        blobs += [layer["digest"] for layer in document.get("layers", [])]
        present = all(self.get(f"blobs/{blob}", "HEAD")[0] == 200 for blob in blobs)
        return present and all(self.whole(child) for child in children)


@dataclass
class Filled:
    """The project, its settings, the registry and what each build's commit was."""

    project: Path
    env: dict[str, str]
    reader: Reader
    shas: dict[str, str]  # main-1, main-2, main-3, feature-dead, feature-alive


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenService]:
    service = TokenService(tmp_path_factory.mktemp("token"), free_port(), USER, PASSWORD)
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def start_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., LoopbackRegistry]]:
    pool = RegistryPool(tmp_path_factory.mktemp("registry"))
    yield pool.start
    pool.stop_all()


@pytest.fixture(scope="module")
def runner(engine: None) -> Iterator[EmptyRunner]:
    with own_daemon(
        lambda root: EmptyRunner(root, snapshotter=True), "prune runner", ("dockerd", "ctr")
    ) as daemon:
        yield daemon


def build(project: Path, env: dict[str, str], ref: str) -> str:
    """Commit a new hello.txt on the checked-out branch, build and push it; return the SHA."""
    (project / "hello.txt").write_text(f"hello from {ref} at {datetime.now(UTC).isoformat()}\n")
    git(project, "commit", "-qam", f"change on {ref}")
    sha = git(project, "rev-parse", "--short=8", "HEAD")
    settings = {**env, "CI_COMMIT_REF_SLUG": ref, "CI_COMMIT_SHORT_SHA": sha}
    ok(run_task(project, "build-stages", "--push", env=settings))
    return sha


def checkout_project(root: Path) -> Path:
    """Return the tiny project, committed on main and pushed to a bare ``origin``."""
    origin = root / "origin.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(origin))
    project = make_project(root / "project")
    (project / "pyproject.toml").write_text(PYPROJECT)
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "tiny project")
    git(project, "remote", "add", "origin", str(origin))
    return project


@pytest.fixture(scope="module")
def filled(
    runner: EmptyRunner,
    tokens: TokenService,
    start_registry: Callable[..., LoopbackRegistry],
    base_images: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Filled:
    require_builder("buildkit")
    registry = start_registry(auth_lines=tokens.registry_config())
    image = f"{registry.address}/{REPOSITORY}"
    login = {"CI_REGISTRY": registry.address, "CI_REGISTRY_USER": USER}
    env = task_env(runner, base_images, image, builder="buildkit", **login)
    env["CI_REGISTRY_PASSWORD"] = PASSWORD
    project = checkout_project(tmp_path_factory.mktemp("prune"))
    shas = {"main-1": build(project, env, "main")}
    for branch in ("feature-dead", "feature-alive"):
        git(project, "checkout", "-qb", branch, "main")
        shas[branch] = build(project, env, branch)
    git(project, "checkout", "-q", "main")
    shas["main-2"] = build(project, env, "main")
    shas["main-3"] = build(project, env, "main")
    # The release copies the tested commit's image to latest, as the pipeline's release job.
    release = {**env, "CI_COMMIT_REF_SLUG": "main", "CI_COMMIT_SHORT_SHA": shas["main-3"]}
    ok(run_task(project, "release", env=release))
    git(project, "tag", "v1.0.0")
    git(project, "push", "-q", "origin", "main", "feature-dead", "feature-alive", "v1.0.0")
    git(project, "push", "-q", "origin", "--delete", "feature-dead")  # the local branch stays
    reader = Reader(registry, tokens)
    copy_tag(reader, tokens, "latest", "v1.0.0")
    return Filled(project, env, reader, shas)


def copy_tag(reader: Reader, tokens: TokenService, source: str, tag: str) -> None:
    """Write ``tag`` as a byte-for-byte copy of ``source``'s manifest (as release does)."""
    status, body, headers = reader.get(f"manifests/{source}")
    assert status == 200
    scope = f"repository:{REPOSITORY}:pull,push"
    request = urllib.request.Request(
        f"{reader.base}/manifests/{tag}",
        data=body,
        method="PUT",
        headers={
            "Authorization": f"Bearer {tokens.token(SERVICE, [scope])}",
            "Content-Type": headers["Content-Type"],
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def prune(filled: Filled, *options: str, module: str = "invoke") -> str:
    """Run prune (the invoke task, or the command line) and return its output."""
    run = ok(
        run_task(filled.project, "prune", "--now", NOW, *options, env=filled.env, module=module)
    )
    assert "Traceback" not in run.output
    return run.stdout


def test_prune_deletes_exactly_what_no_ref_needs_and_keeps_every_kept_digest(
    filled: Filled,
) -> None:
    before = filled.reader.tags()
    shas = filled.shas
    # The fill is what the policy needs: branch, key and commit tags, and shared digests.
    assert {
        "base",
        "final",
        "latest",
        "v1.0.0",
        "final--feature-dead",
        "base--feature-dead",
    } <= set(before)
    assert before["base--feature-dead"] == before["base"]  # reused: a manifest copy
    assert before["v1.0.0"] == before["final"] == before[shas["main-3"]]
    assert any(tag.startswith("final--key.") for tag in before)

    dry = prune(filled, module="stageline")
    assert filled.reader.tags() == before, "the dry run changed the registry"
    assert "dry run" in dry

    # What goes: the dead branch's final image and the oldest main commit (beyond the newest
    # two, older than 30 days), each with every tag on its digest (commit and key tags).
    doomed = {before["final--feature-dead"], before[shas["main-1"]]}
    expected_gone = {tag for tag, digest in before.items() if digest in doomed}
    assert {shas["feature-dead"], shas["main-1"], "final--feature-dead"} < expected_gone
    assert all(
        tag in {shas["feature-dead"], shas["main-1"], "final--feature-dead"}
        or tag.startswith("final--key.")
        for tag in expected_gone
    )
    applied = prune(filled, "--apply")
    after = filled.reader.tags()
    assert set(after) == set(before) - expected_gone
    assert after == {tag: before[tag] for tag in after}
    for digest in set(after.values()):
        assert filled.reader.whole(digest), f"kept manifest {digest} lost a part"
    for digest in doomed:
        assert filled.reader.get(f"manifests/{digest}")[0] == 404
    # Kept although its branch is gone: its digest is the default branch's base.
    assert "base--feature-dead" in after
    assert "base--feature-dead - no branch or tag feature-dead exists, but kept tag base has" in dry
    assert "deleted sha256:" in applied
    assert "summary: 0 of" in prune(filled, "--apply"), "a second prune found more to delete"


def test_prune_names_the_fix_when_the_token_may_not_delete(
    filled: Filled, tokens: TokenService
) -> None:
    # A tag of a branch that never existed, written with the plain API.
    address = filled.env["CI_REGISTRY"]
    write_image(RegistryAPI(address, (USER, PASSWORD)), REPOSITORY, "final--never-pushed", "k")
    tokens.withheld = frozenset({"delete"})
    try:
        run = run_task(filled.project, "prune", "--apply", env=filled.env)
    finally:
        tokens.withheld = frozenset()
    assert_clean_failure(run, "refused to delete", "the token needs the delete scope")
    assert "final--never-pushed" in filled.reader.tags()


def test_prune_names_the_fix_when_the_registry_refuses_deletes(
    start_registry: Callable[..., LoopbackRegistry], tmp_path: Path
) -> None:
    registry = start_registry(delete_enabled=False)
    image = f"{registry.address}/{REPOSITORY}"
    # One tag of a branch that does not exist, written with the plain API.
    write_image(RegistryAPI(registry.address), REPOSITORY, "final--gone", "sha256:" + "c" * 64)
    project = checkout_project(tmp_path)
    env = {"CI_REGISTRY_IMAGE": image, "CI_DEFAULT_BRANCH": "main"}
    dry = ok(run_task(project, "prune", env=env))
    assert "final--gone" in dry.stdout
    run = run_task(project, "prune", "--apply", env=env, module="stageline")
    assert_clean_failure(run, "does not allow deleting (405", "storage.delete.enabled")
