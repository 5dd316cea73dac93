"""The cache backend: registry cache where the engine can export it, by the branch rules."""

import base64
import json
from pathlib import Path

from stageline.actions import pulls_for
from stageline.builders import BuildConfig
from stageline.builders.buildkit import buildx_command, docker_config
from stageline.builders.choice import BuilderChoice
from stageline.cache import CONTAINERD_SNAPSHOTTER, CacheChoice, choose_cache
from stageline.dockerfile import parse_dockerfile
from stageline.plan import make_plan
from stageline.settings import Secret, Settings

IMAGE = "registry.example.com/team/app"
DOCKERFILE = "FROM debian AS deps\nFROM deps AS app\n"
CONTAINERD_INFO = {"DriverStatus": [["driver-type", CONTAINERD_SNAPSHOTTER]]}
OVERLAY_INFO = {"DriverStatus": [["Backing Filesystem", "extfs"]]}


def settings(root: Path, ref: str = "main", image: str = IMAGE) -> Settings:
    return Settings(root=root, image=image, ref_slug=ref, default_branch="main")


def test_registry_cache_only_with_buildkit_on_the_containerd_store(tmp_path: Path) -> None:
    plan = make_plan(settings(tmp_path), parse_dockerfile(DOCKERFILE))
    assert choose_cache("buildkit", plan, CONTAINERD_INFO).backend == "registry"
    assert choose_cache("buildkit", plan, OVERLAY_INFO).backend == "inline"
    assert "no engine answered" in choose_cache("buildkit", plan, None).reason
    assert choose_cache("classic", plan, OVERLAY_INFO).backend == "images"
    assert choose_cache("classic", plan, CONTAINERD_INFO).backend == "none"
    for image in ("app", "team/app"):
        local = make_plan(settings(tmp_path, image=image), parse_dockerfile(DOCKERFILE))
        assert "names no registry host" in choose_cache("buildkit", local, CONTAINERD_INFO).reason


def test_a_branch_writes_its_own_cache_ref_and_reads_its_own_then_the_defaults(
    tmp_path: Path,
) -> None:
    app = make_plan(settings(tmp_path, "feature-x"), parse_dockerfile(DOCKERFILE)).stage("app")
    assert app.cache_ref == f"{IMAGE}/cache:app--feature-x"
    assert app.cache_reads == (
        f"{IMAGE}/cache:deps--feature-x",
        f"{IMAGE}/cache:deps",
        f"{IMAGE}/cache:app--feature-x",
        f"{IMAGE}/cache:app",
    )
    main = make_plan(settings(tmp_path), parse_dockerfile(DOCKERFILE)).stage("app")
    assert (main.cache_ref, main.cache_reads[-1]) == (f"{IMAGE}/cache:app", f"{IMAGE}/cache:app")


def test_buildx_exports_and_reads_registry_cache_only_when_chosen(tmp_path: Path) -> None:
    config = settings(tmp_path, "feature-x")
    plan = make_plan(config, parse_dockerfile(DOCKERFILE))
    for backend in ("registry", "inline"):
        build = BuildConfig(config, CacheChoice(backend, "test"))
        command = " ".join(buildx_command(build, plan, plan.stage("app"), "Dockerfile"))
        exported = f"--cache-to type=registry,ref={IMAGE}/cache:app--feature-x,mode=max"
        assert (exported in command) == (backend == "registry")
        assert (f"ref={IMAGE}/cache:deps " in command) == (backend == "registry")
        assert f"--cache-from type=registry,ref={IMAGE}:deps " in command


def test_the_joint_solve_reads_every_cache_source_and_writes_nothing(tmp_path: Path) -> None:
    config = settings(tmp_path)
    plan = make_plan(config, parse_dockerfile(DOCKERFILE))
    registry = BuildConfig(config, CacheChoice("registry", "test"))
    solve = buildx_command(registry, plan, plan.stage("app"), "Dockerfile", solve_only=True)
    build = buildx_command(registry, plan, plan.stage("app"), "Dockerfile")
    assert "type=cacheonly" in solve
    assert "--load" not in solve
    assert not {"--tag", "--cache-to", "--label"} & set(solve)
    reads = [solve[i + 1] for i, part in enumerate(solve) if part == "--cache-from"]
    assert reads == [build[i + 1] for i, part in enumerate(build) if part == "--cache-from"]
    assert {"--tag", "--cache-to", "--load"} <= set(build)


def test_buildkit_pulls_nothing_ahead_and_the_classic_builder_pulls_its_sources(
    tmp_path: Path,
) -> None:
    plan = make_plan(settings(tmp_path), parse_dockerfile(DOCKERFILE))
    assert pulls_for(plan, BuilderChoice("buildkit", "test")) == []
    assert pulls_for(plan, BuilderChoice("classic", "test")) == [f"{IMAGE}:deps", f"{IMAGE}:app"]


def test_the_clis_temporary_login_keeps_the_users_other_logins(tmp_path: Path) -> None:
    user_config = tmp_path / "docker"
    user_config.mkdir()
    proxy = {"auth": "cHJveHk6dG9rZW4="}
    (user_config / "config.json").write_text(
        json.dumps({"auths": {"proxy.example.com": proxy}, "credsStore": "desktop"})
    )
    config = Settings(
        root=tmp_path,
        image=IMAGE,
        ref_slug="main",
        default_branch="main",
        registry="registry.example.com",
        registry_user="ci",
        registry_password=Secret("pw"),
        environ={"DOCKER_CONFIG": str(user_config)},
    )
    with docker_config(config) as extra:
        written = json.loads((Path(extra["DOCKER_CONFIG"]) / "config.json").read_text())
    assert written["auths"]["proxy.example.com"] == proxy
    assert base64.b64decode(written["auths"]["registry.example.com"]["auth"]) == b"ci:pw"
    assert "credsStore" not in written
    assert not Path(extra["DOCKER_CONFIG"]).exists()
