"""Build secrets reach BuildKit by name only; the classic builder refuses them."""

from pathlib import Path

import pytest

from stageline.actions import existing_secret_files, plan_document
from stageline.build_secrets import BuildSecret, parse_secret
from stageline.builders import BuildConfig
from stageline.builders.buildkit import buildx_command
from stageline.builders.choice import choose_builder
from stageline.cache import CacheChoice
from stageline.dockerfile import parse_dockerfile
from stageline.errors import BuilderUnavailableError, PlanError
from stageline.plan import Request, make_plan
from stageline.settings import Settings

TOKEN = "https://ci:glpat-s3cr3t-t0ken@pypi.example.com/simple/"
DOCKERFILE = parse_dockerfile(
    "FROM debian AS app\n"
    "RUN --mount=type=secret,id=PIP_INDEX_URL PIP_INDEX_URL=$(cat /run/secrets/PIP_INDEX_URL)"
    " pip install -r requirements.txt\n"
)


def settings(tmp_path: Path, **environ: str) -> Settings:
    return Settings(
        root=tmp_path,
        image="app",
        ref_slug="main",
        default_branch="main",
        secret_specs=("PIP_INDEX_URL", "id=npmrc,src=.npmrc"),
        environ=environ,
    )


def test_a_secret_is_a_variable_name_or_buildxs_own_form(tmp_path: Path) -> None:
    assert parse_secret("NPM_TOKEN", tmp_path) == BuildSecret("NPM_TOKEN", env="NPM_TOKEN")
    assert parse_secret("id=pip,env=PIP_INDEX_URL", tmp_path).buildx_option() == (
        "id=pip,env=PIP_INDEX_URL"
    )
    assert parse_secret("id=npmrc,src=.npmrc", tmp_path).file == tmp_path / ".npmrc"
    for bad in ("id=x", "id=x,env=A,src=b", "a b", "id=x,env=A,mode=1"):
        with pytest.raises(PlanError, match="--secret PIP_INDEX_URL"):
            parse_secret(bad, tmp_path)


def test_only_set_secrets_are_passed_and_the_plan_never_shows_a_value(tmp_path: Path) -> None:
    plan = make_plan(settings(tmp_path, PIP_INDEX_URL=TOKEN), DOCKERFILE)
    assert [secret.id for secret in plan.secrets] == ["PIP_INDEX_URL"]
    assert [secret.id for secret in plan.unset_secrets] == ["npmrc"]
    npmrc = tmp_path / ".npmrc"  # the plan reads no file: it is told which exist
    plan = make_plan(settings(tmp_path, PIP_INDEX_URL=TOKEN), DOCKERFILE, None, {npmrc})
    assert [secret.id for secret in plan.secrets] == ["PIP_INDEX_URL", "npmrc"]
    choice = choose_builder(settings(tmp_path), plan, "buildkit")
    document = plan_document(plan, choice, CacheChoice("inline", "test"))
    assert document["secrets"] == [
        {"id": "PIP_INDEX_URL", "source": "environment variable PIP_INDEX_URL", "set": True},
        {"id": "npmrc", "source": f"file {tmp_path / '.npmrc'}", "set": True},
    ]
    assert "s3cr3t" not in repr(document) + repr(plan)


def test_buildx_gets_the_secret_by_name_not_by_value(tmp_path: Path) -> None:
    config = settings(tmp_path, PIP_INDEX_URL=TOKEN)
    plan = make_plan(config, DOCKERFILE, Request(secrets=("NPM_TOKEN",)))
    inline = CacheChoice("inline", "test")
    command = buildx_command(BuildConfig(config, inline), plan, plan.stages[0], "Dockerfile")
    at = command.index("--secret")
    assert command[at : at + 2] == ["--secret", "id=PIP_INDEX_URL,env=PIP_INDEX_URL"]
    assert "s3cr3t" not in " ".join(command)


def test_the_classic_builder_refuses_a_build_that_needs_a_secret(tmp_path: Path) -> None:
    plan = make_plan(settings(tmp_path), DOCKERFILE)
    with pytest.raises(BuilderUnavailableError, match="line 2 uses RUN --mount=type=secret"):
        choose_builder(settings(tmp_path), plan, "classic")
    plain = make_plan(settings(tmp_path, PIP_INDEX_URL=TOKEN), parse_dockerfile("FROM debian\n"))
    with pytest.raises(BuilderUnavailableError, match=r"build secrets \(PIP_INDEX_URL\)"):
        choose_builder(settings(tmp_path), plain, "classic")


def test_the_secret_files_that_exist_are_found_before_planning(tmp_path: Path) -> None:
    config = settings(tmp_path)
    request = Request(secrets=("id=other,src=missing.txt",))
    assert existing_secret_files(config, request) == frozenset()
    (tmp_path / ".npmrc").write_text(f"//registry.example.com/:_authToken={TOKEN}\n")
    assert existing_secret_files(config, request) == {tmp_path / ".npmrc"}
