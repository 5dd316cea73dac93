"""Which tags a release writes, and when it refuses (pure: no registry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stageline.errors import PlanError
from stageline.release import release_source, release_tags
from stageline.settings import Settings

IMAGE = "registry.example.com/shop/app"


def settings(ref: str = "main", **overrides: object) -> Settings:
    values: dict[str, object] = {
        "root": Path("."),
        "image": IMAGE,
        "ref_slug": ref,
        "default_branch": "main",
        "short_sha": "abcdef12",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def test_the_default_branch_releases_latest_from_the_commits_tag() -> None:
    assert release_tags(settings()) == ["latest"]
    assert release_source(settings()) == f"{IMAGE}:abcdef12"


def test_a_tag_pipeline_releases_the_git_tag_made_tag_safe_and_not_latest() -> None:
    assert release_tags(settings("v1-2", commit_tag="v1.2+build/7")) == ["v1.2-build-7"]


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        (settings("feature-x"), "nothing to release on 'feature-x'"),
        (settings(short_sha=None), "set CI_COMMIT_SHORT_SHA"),
        (settings(image="app"), "set CI_REGISTRY_IMAGE"),
        (settings("x", commit_tag="production--x"), "cannot be a release tag"),
    ],
)
def test_a_release_that_cannot_be_made_says_why(chosen: Settings, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        release_source(chosen)
