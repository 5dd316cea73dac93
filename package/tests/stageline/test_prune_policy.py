"""The prune policy: which tags and manifests go, from a repository's holdings (no Docker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stageline.errors import SettingsError
from stageline.prune_policy import (
    Context,
    Holdings,
    Kind,
    LiveRefs,
    ManifestFacts,
    PrunePlan,
    classify,
    plan_prune,
)
from stageline.settings import GitFacts, PruneRetention, parse_settings

STAGES = ("base", "development", "final")
NOW = datetime(2030, 6, 1, tzinfo=UTC)
REFS = LiveRefs("main", frozenset({"main", "feature/alive"}), frozenset({"v1.0.0"}))


def digest(name: str) -> str:
    """Return a fake digest named after ``name`` (readable in failures)."""
    return "sha256:" + name.encode().hex().ljust(64, "0")[:64]


def image(name: str, days_old: float | None = 1.0, layers: tuple[str, ...] = ()) -> ManifestFacts:
    """Return an image manifest ``name``: a config blob and ``layers`` of 1000 bytes each."""
    created = None if days_old is None else NOW - timedelta(days=days_old)
    blobs = {digest(f"cfg-{name}"): 100, **{digest(layer): 1000 for layer in layers}}
    return ManifestFacts(digest(name), size=10, blobs=blobs, created=created)


def holdings(tags: dict[str, str], *manifests: ManifestFacts) -> Holdings:
    """Return holdings where ``tags`` maps each tag to a manifest name."""
    return Holdings(
        tags={tag: digest(name) for tag, name in tags.items()},
        manifests={m.digest: m for m in manifests},
    )


def prune(held: Holdings, retention: PruneRetention | None = None) -> PrunePlan:
    """Return the plan for ``held`` with REFS, STAGES and ``retention`` (default: defaults)."""
    return plan_prune(held, Context(STAGES, REFS, retention or PruneRetention(), NOW))


def gone(plan: PrunePlan) -> set[str]:
    """Return the tags the plan deletes."""
    return {tag for deletion in plan.deletions for tag in deletion.tags}


@pytest.mark.parametrize(
    ("tag", "kind", "stage"),
    [
        ("base", Kind.DEFAULT, "base"),
        ("final--feature-x", Kind.BRANCH, "final"),
        ("final--key.0123456789abcdef0123456789abcdef01234567", Kind.KEY, "final"),
        ("1a2b3c4d", Kind.COMMIT, ""),
        ("development-1a2b3c4d", Kind.COMMIT, "development"),
        ("latest", Kind.OTHER, ""),
        ("v1.2.0", Kind.OTHER, ""),
        ("gone-stage--feature-x", Kind.OTHER, ""),  # a stage no longer in the Dockerfile
        ("other-1a2b3c4d", Kind.OTHER, ""),  # not a stage: not a commit tag
        ("1a2b3c", Kind.OTHER, ""),  # 6 hex digits: too short for a short SHA
        # A per-platform job's tags: judged as the tag without the platform.
        ("base--linux.arm64", Kind.DEFAULT, "base"),
        ("final--feature-x--linux.arm.v7", Kind.BRANCH, "final"),
        ("1a2b3c4d--linux.amd64", Kind.COMMIT, ""),
        ("final--key.0123456789abcdef0123456789abcdef01234567--linux.arm64", Kind.KEY, "final"),
    ],
)
def test_tags_are_classified_by_name(tag: str, kind: Kind, stage: str) -> None:
    found = classify(tag, STAGES)
    assert (found.kind, found.stage) == (kind, stage)


def test_a_deleted_branch_goes_and_live_refs_default_and_release_tags_stay() -> None:
    held = holdings(
        {
            "base": "main-base",
            "final": "main-final",
            "latest": "main-final",
            "v1.0.0": "release",
            "final--feature-alive": "alive",
            "final--v1-0-0": "tag-pipeline",
            "final--feature-dead": "dead",
            "base--feature-dead": "dead-base",
        },
        *(image(n) for n in ("main-base", "main-final", "release", "alive", "tag-pipeline")),
        image("dead", layers=("dead-layer",)),
        image("dead-base", layers=("dead-base-layer",)),
    )
    plan = prune(held)
    assert gone(plan) == {"final--feature-dead", "base--feature-dead"}
    assert {d.digest for d in plan.deletions} == {digest("dead"), digest("dead-base")}
    assert plan.freed_bytes == 2 * (10 + 100 + 1000)
    reasons = {v.tag: v.reason for v in plan.verdicts}
    assert reasons["final--feature-dead"] == "no branch or tag feature-dead exists"
    assert reasons["final--feature-alive"] == "ref feature-alive exists"
    assert "default branch" in reasons["base"]


def test_per_platform_job_tags_follow_the_rules_of_the_tag_without_the_platform() -> None:
    held = holdings(
        {
            "base--linux.arm64": "arm-base",
            "final--feature-alive--linux.arm64": "arm-alive",
            "final--feature-dead--linux.arm64": "arm-dead",
        },
        *(image(n) for n in ("arm-base", "arm-alive", "arm-dead")),
    )
    assert gone(prune(held)) == {"final--feature-dead--linux.arm64"}


def test_a_tag_sharing_its_digest_with_a_kept_tag_is_kept_and_says_why() -> None:
    # A reused stage: the dead branch's tag is a manifest copy of the default branch's.
    held = holdings(
        {"base": "shared", "base--feature-dead": "shared", "final--feature-dead": "own"},
        image("shared", layers=("shared-layer",)),
        image("own", layers=("shared-layer", "own-layer")),
    )
    plan = prune(held)
    assert gone(plan) == {"final--feature-dead"}
    kept = {v.tag: v.reason for v in plan.kept}
    assert "kept tag base has the same digest" in kept["base--feature-dead"]
    assert kept["base--feature-dead"].startswith("no branch or tag feature-dead exists")
    # Only what no kept manifest references is freed: the shared layer stays.
    assert plan.freed_bytes == 10 + 100 + 1000


def test_commit_tags_go_only_beyond_keep_last_and_older_than_keep_days() -> None:
    ages = {"aaaaaaa1": 50, "aaaaaaa2": 40, "aaaaaaa3": 20, "aaaaaaa4": 10, "aaaaaaa5": 5}
    held = holdings({sha: sha for sha in ages}, *(image(sha, age) for sha, age in ages.items()))
    plan = prune(held, PruneRetention(keep_last=2, keep_days=30))
    # The newest two stay by count; aaaaaaa3 is beyond them but younger than 30 days.
    assert gone(plan) == {"aaaaaaa1", "aaaaaaa2"}
    assert prune(held, PruneRetention(keep_last=2, keep_days=0)).deletions[0].tags == ("aaaaaaa1",)
    assert gone(prune(held, PruneRetention(keep_last=0, keep_days=15))) == {
        "aaaaaaa1",
        "aaaaaaa2",
        "aaaaaaa3",
    }


def test_keep_last_counts_each_target_on_its_own() -> None:
    tags = {"bbbbbbb1": "m1", "bbbbbbb2": "m2", "development-bbbbbbb1": "d1"}
    held = holdings(tags, image("m1", 90), image("m2", 80), image("d1", 95))
    plan = prune(held, PruneRetention(keep_last=1, keep_days=30))
    # development-<sha> is the newest (the only) one of its target: kept.
    assert gone(plan) == {"bbbbbbb1"}


def test_an_image_without_a_creation_date_is_kept() -> None:
    held = holdings(
        {"ccccccc1": "old", "ccccccc2": "undated"}, image("old", 90), image("undated", None)
    )
    plan = prune(held, PruneRetention(keep_last=0, keep_days=1))
    assert gone(plan) == {"ccccccc1"}
    assert {v.tag: v.reason for v in plan.kept}["ccccccc2"] == "its image has no creation date"


def test_key_tags_go_after_key_keep_days_unless_a_kept_tag_shares_them() -> None:
    key = "--key." + "ab" * 20
    held = holdings(
        {
            f"final{key}": "old-key",
            f"base{key}": "main-base",
            "base": "main-base",
            f"development{key}": "new-key",
        },
        image("old-key", 10),
        image("main-base", 10),
        image("new-key", 2),
    )
    plan = prune(held, PruneRetention(key_keep_days=7))
    assert gone(plan) == {f"final{key}"}
    assert "kept tag base has the same digest" in {v.tag: v.reason for v in plan.kept}[f"base{key}"]


def test_an_index_goes_with_its_children_unless_a_kept_index_shares_one() -> None:
    child = image("child", layers=("child-layer",))
    shared_child = image("shared-child", layers=("shared-layer",))
    attestation = ManifestFacts(digest("attestation"), size=5, blobs={digest("att"): 50})
    dead = ManifestFacts(
        digest("dead-index"),
        size=20,
        children=(child.digest, shared_child.digest, attestation.digest),
        created=NOW - timedelta(days=1),
    )
    kept = ManifestFacts(digest("kept-index"), size=20, children=(shared_child.digest,))
    held = holdings(
        {"final--feature-dead": "dead-index", "final": "kept-index"},
        dead,
        kept,
        child,
        shared_child,
        attestation,
    )
    [deletion] = prune(held).deletions
    assert deletion.digest == dead.digest
    assert set(deletion.children) == {child.digest, attestation.digest}
    assert deletion.freed_bytes == 20 + (10 + 100 + 1000) + (5 + 50)


def test_a_manifest_a_kept_index_lists_is_never_deleted() -> None:
    child = image("child")
    index = ManifestFacts(digest("index"), children=(child.digest,))
    held = holdings({"final": "index", "final--feature-dead": "child"}, index, child)
    plan = prune(held)
    assert plan.deletions == ()
    assert "a kept index uses it" in {v.tag: v.reason for v in plan.kept}["final--feature-dead"]


def test_slugs_are_compared_as_plan_cuts_them_for_long_branch_names() -> None:
    long_branch = "feature/" + "x" * 120
    refs = LiveRefs("main", frozenset({long_branch}))
    tag = "final--" + ("feature-" + "x" * 120)[:63].rstrip("-")
    held = holdings({tag: "img"}, image("img"))
    plan = plan_prune(held, Context(STAGES, refs, PruneRetention(), NOW))
    assert plan.deletions == ()


def test_the_default_branch_is_alive_even_when_git_lists_no_branch() -> None:
    refs = LiveRefs("main")
    held = holdings({"final--main": "img", "final": "img2"}, image("img"), image("img2"))
    assert plan_prune(held, Context(STAGES, refs, PruneRetention(), NOW)).deletions == ()


def settings_with(prune: object) -> PruneRetention:
    project = {"prune": prune}
    return parse_settings(Path("/p"), {}, project, GitFacts(branch="main")).prune


def test_the_prune_table_is_read_with_defaults() -> None:
    assert settings_with({}) == PruneRetention(keep_last=10, keep_days=30, key_keep_days=7)
    assert settings_with({"keep-last": 3, "keep-days": 0}) == PruneRetention(3, 0, 7)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ({"keep-lats": 3}, "prune has no key 'keep-lats'; use keep-last, keep-days, key-keep-days"),
        ({"keep-days": -1}, "prune keep-days must be a whole number >= 0, not -1"),
        ({"keep-last": "10"}, "prune keep-last must be a whole number >= 0, not '10'"),
        ({"keep-last": True}, "prune keep-last must be a whole number >= 0, not True"),
        (10, "[tool.stageline] prune in pyproject.toml must be a dict"),
    ],
)
def test_bad_prune_settings_name_the_key_and_an_example(value: object, needle: str) -> None:
    with pytest.raises(SettingsError) as raised:
        settings_with(value)
    assert needle in str(raised.value)
