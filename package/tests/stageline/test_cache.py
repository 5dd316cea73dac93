"""The cache backend: inline cache in every stage image, read by the branch rules."""

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


def test_buildkit_reads_inline_cache_everywhere_and_the_classic_builder_its_images() -> None:
    assert choose_cache("buildkit", CONTAINERD_INFO).backend == "inline"
    assert choose_cache("buildkit", OVERLAY_INFO).backend == "inline"
    assert choose_cache("buildkit", None).backend == "inline"
    assert choose_cache("classic", OVERLAY_INFO).backend == "images"
    assert choose_cache("classic", CONTAINERD_INFO).backend == "none"


def test_a_branch_reads_its_own_stage_tags_then_the_defaults_and_exports_no_cache(
    tmp_path: Path,
) -> None:
    config = settings(tmp_path, "feature-x")
    plan = make_plan(config, parse_dockerfile(DOCKERFILE))
    build = BuildConfig(config, CacheChoice("inline", "test"))
    command = buildx_command(build, plan, plan.stage("app"), "Dockerfile")
    reads = [command[i + 1] for i, part in enumerate(command) if part == "--cache-from"]
    assert reads == [
        f"type=registry,ref={IMAGE}:deps--feature-x",
        f"type=registry,ref={IMAGE}:deps",
        f"type=registry,ref={IMAGE}:app--feature-x",
        f"type=registry,ref={IMAGE}:app",
    ]
    assert "--cache-to" not in command
    assert command[command.index("BUILDKIT_INLINE_CACHE=1") - 1] == "--build-arg"


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
