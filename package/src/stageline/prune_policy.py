"""Pure pruning: which tags and manifests of a repository no ref needs any more.

Given what the registry holds (each tag's manifest digest, each manifest's children,
blobs and creation date), the refs that exist, the Dockerfile's stage names and the
retention, :func:`plan_prune` says which tags go, which manifests are deleted, and what
is kept and why. Reading the registry and git is :mod:`stageline.prune`'s job.

The tags, by kind (``IMAGE:`` left out)
---------------------------------------
* ``<stage>``: the default branch's stage image. Kept.
* ``<stage>--<ref-slug>``: another branch's or git tag's. Goes when no ref has that slug.
* ``<stage>--key.<hex>``: a key tag (``promote-merged``). Goes once its image is older
  than ``key-keep-days``.
* ``<short-sha>`` and ``<target>-<short-sha>`` (7-40 hex): a commit's image. Goes when it is
  beyond the newest ``keep-last`` of its target *and* older than ``keep-days``
  (GitLab's cleanup-policy semantics); an image without a creation date is kept.
* Anything else (``latest``, release tags, other stages' tags): kept.

A per-platform job's tag is one of these with its platform after it
(``<stage>--<ref-slug>--linux.arm64``, :func:`stageline.plan.platform_suffix`): it is
judged as the tag without it, and its commit tags count per platform.

Deleting by digest
------------------
The registry API deletes a manifest by digest, which removes every tag on it. So a
manifest is deleted only when every tag on it goes; its other tags are kept and say why.
A manifest a kept one references (an index's child) is never deleted, and the children
of a deleted index go with it unless a kept manifest references them too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum

from stageline.errors import PlanError
from stageline.plan import REF_SEPARATOR, cache_tag, tag_safe
from stageline.reuse import KEY_TAG_PREFIX
from stageline.settings import PruneRetention, ref_slug

SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
# A per-platform job's suffix after the last ``--``: ``linux.arm64``, ``linux.arm.v7``.
PLATFORM_RE = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+(?:\.[a-z0-9_]+)?$")
TARGET_SHA_RE = re.compile(r"^(?P<target>.+)-(?P<sha>[0-9a-f]{7,40})$")


class Kind(Enum):
    """What a tag is, by its name."""

    DEFAULT = "default branch"
    BRANCH = "branch"
    KEY = "key"
    COMMIT = "commit"
    OTHER = "other"


@dataclass(frozen=True)
class TagKind:
    """A tag's kind, its stage or target (``""``: the main target), and its ref slug."""

    kind: Kind
    stage: str = ""
    slug: str = ""
    platform: str = ""  # a per-platform job's suffix (``--linux.arm64``), else ""


@dataclass(frozen=True)
class ManifestFacts:
    """One manifest the registry holds: its children, blobs (digest to size), and date."""

    digest: str
    size: int = 0
    children: tuple[str, ...] = ()  # an index's manifests
    blobs: Mapping[str, int] = field(default_factory=dict)  # config and layers
    created: datetime | None = None  # the image config's ``created`` (an index's: its image's)


@dataclass(frozen=True)
class Holdings:
    """What a repository holds: each tag's digest, and the manifests by digest."""

    tags: Mapping[str, str]
    manifests: Mapping[str, ManifestFacts]


@dataclass(frozen=True)
class LiveRefs:
    """The refs that exist: branch and tag names, and the default branch."""

    default_branch: str
    branches: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    @property
    def slugs(self) -> frozenset[str]:
        """Return the ref slugs of every live ref, the default branch's included."""
        names = self.branches | self.tags | {self.default_branch}
        return frozenset(ref_slug(name) for name in names)


@dataclass(frozen=True)
class Verdict:
    """One tag: whether it goes, and why."""

    tag: str
    digest: str
    kind: Kind
    goes: bool
    reason: str


@dataclass(frozen=True)
class Deletion:
    """One manifest to delete: its digest, the tags it takes, its index's children."""

    digest: str
    tags: tuple[str, ...]
    children: tuple[str, ...]
    freed_bytes: int  # its blobs and manifests no kept manifest references
    reason: str


@dataclass(frozen=True)
class PrunePlan:
    """Every tag's verdict, the manifests to delete, and the bytes they free."""

    verdicts: tuple[Verdict, ...]
    deletions: tuple[Deletion, ...]
    freed_bytes: int  # counted once across deletions

    @property
    def kept(self) -> tuple[Verdict, ...]:
        """Return the verdicts of the tags that stay."""
        return tuple(v for v in self.verdicts if not v.goes)

    @property
    def gone(self) -> tuple[Verdict, ...]:
        """Return the verdicts of the tags that go."""
        return tuple(v for v in self.verdicts if v.goes)


def split_platform(tag: str) -> tuple[str, str]:
    """Return ``tag`` without a per-platform job's suffix, and that suffix ("" if none).

    A ref slug never holds a ``.``, and a key tag's last part starts with ``key.``.
    """
    head, separator, last = tag.rpartition(REF_SEPARATOR)
    if separator and head and PLATFORM_RE.match(last) and not last.startswith(KEY_TAG_PREFIX):
        return head, separator + last
    return tag, ""


def classify(tag: str, stages: Iterable[str]) -> TagKind:
    """Return what ``tag`` is, knowing the Dockerfile's stage names."""
    base, platform = split_platform(tag)
    kind = classify_base(base, stages)
    return TagKind(kind.kind, kind.stage, kind.slug, platform) if platform else kind


def classify_base(tag: str, stages: Iterable[str]) -> TagKind:
    """Return what ``tag`` (without a platform suffix) is, knowing the stage names."""
    names = set(stages)
    if tag in names:
        return TagKind(Kind.DEFAULT, tag)
    stage, separator, rest = tag.partition(REF_SEPARATOR)
    if separator and stage in names and rest:
        if rest.startswith(KEY_TAG_PREFIX):
            return TagKind(Kind.KEY, stage)
        return TagKind(Kind.BRANCH, stage, rest)
    if SHA_RE.match(tag):
        return TagKind(Kind.COMMIT, "")
    found = TARGET_SHA_RE.match(tag)
    if found and found["target"] in names:
        return TagKind(Kind.COMMIT, found["target"])
    return TagKind(Kind.OTHER)


def live_branch_tags(stages: Iterable[str], refs: LiveRefs) -> frozenset[str]:
    """Return the ``<stage>--<slug>`` tags the live refs write (slugs cut as plan cuts them)."""
    return frozenset(cache_tag(s, slug, False) for s in stages for slug in refs.slugs)


def release_tags(refs: LiveRefs) -> frozenset[str]:
    """Return the tags the live git tags' release images carry (``stageline release``)."""
    safe = set()
    for name in refs.tags:
        try:
            safe.add(tag_safe(name))
        except PlanError:  # a git tag with nothing a Docker tag can use has no image
            continue
    return frozenset(safe)


def age_days(created: datetime | None, now: datetime) -> float | None:
    """Return how many days before ``now`` an image was created (None: unknown)."""
    return None if created is None else (now - created) / timedelta(days=1)


def newest_commits(
    holdings: Holdings, kinds: Mapping[str, TagKind], keep_last: int
) -> frozenset[str]:
    """Return the commit tags among the newest ``keep_last`` of their target.

    An image without a date counts as newest (it is kept anyway); ties go by tag name.
    """
    by_target: dict[str, list[tuple[bool, datetime, str]]] = {}
    for tag, kind in kinds.items():
        if kind.kind is Kind.COMMIT:
            created = holdings.manifests[holdings.tags[tag]].created
            entry = (created is None, created or datetime.min.replace(tzinfo=UTC), tag)
            by_target.setdefault(kind.stage + kind.platform, []).append(entry)
    newest: set[str] = set()
    for entries in by_target.values():
        entries.sort(reverse=True)
        newest.update(tag for _, _, tag in entries[:keep_last])
    return frozenset(newest)


@dataclass(frozen=True)
class Context:
    """What a tag's verdict depends on besides the tag: refs, stages, retention, now."""

    stages: tuple[str, ...]
    refs: LiveRefs
    retention: PruneRetention
    now: datetime


def commit_verdict(days: float | None, newest: bool, retention: PruneRetention) -> str | None:
    """Return why a commit tag goes, or None if it stays (see :func:`tag_verdict`)."""
    if newest or days is None or days < retention.keep_days:
        return None
    return f"commit image beyond the newest {retention.keep_last}, {days:.0f} days old"


def keep_reason(kind: TagKind, days: float | None, newest: bool, context: Context) -> str:
    """Return why a tag the policy keeps stays."""
    if kind.kind is Kind.DEFAULT:
        return f"the default branch's ({context.refs.default_branch})"
    if kind.kind is Kind.BRANCH:
        return f"ref {kind.slug} exists"
    if days is None and kind.kind in (Kind.KEY, Kind.COMMIT):
        return "its image has no creation date"
    if kind.kind is Kind.KEY:
        return f"key image younger than {context.retention.key_keep_days} days"
    if kind.kind is Kind.COMMIT:
        where = "among the newest" if newest else "younger than"
        amount = context.retention.keep_last if newest else context.retention.keep_days
        return f"commit image {where} {amount}{'' if newest else ' days'}"
    return "not a tag prune deletes (release, latest or unknown)"


def tag_verdict(
    tag: str, digest: str, kind: TagKind, days: float | None, newest: bool, context: Context
) -> Verdict:
    """Return whether ``tag`` goes by the policy alone (before digests are shared out)."""
    reason: str | None = None
    base = split_platform(tag)[0]
    if kind.kind is Kind.BRANCH and base not in live_branch_tags([kind.stage], context.refs):
        reason = f"no branch or tag {kind.slug} exists"
    elif kind.kind is Kind.KEY and days is not None and days >= context.retention.key_keep_days:
        reason = f"key image {days:.0f} days old"
    elif kind.kind is Kind.COMMIT and base not in release_tags(context.refs):
        reason = commit_verdict(days, newest, context.retention)
    if reason is None:
        return Verdict(tag, digest, kind.kind, False, keep_reason(kind, days, newest, context))
    return Verdict(tag, digest, kind.kind, True, reason)


def policy_verdicts(holdings: Holdings, context: Context) -> list[Verdict]:
    """Return each tag's verdict by the policy alone, in tag order."""
    kinds = {tag: classify(tag, context.stages) for tag in holdings.tags}
    newest = newest_commits(holdings, kinds, context.retention.keep_last)
    verdicts = []
    for tag in sorted(holdings.tags):
        digest = holdings.tags[tag]
        days = age_days(holdings.manifests[digest].created, context.now)
        verdicts.append(tag_verdict(tag, digest, kinds[tag], days, tag in newest, context))
    return verdicts


def referenced(roots: Iterable[str], manifests: Mapping[str, ManifestFacts]) -> set[str]:
    """Return ``roots`` and every manifest they reference (an index's children), recursively."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        digest = todo.pop()
        if digest not in seen:
            seen.add(digest)
            facts = manifests.get(digest)
            todo.extend(facts.children if facts else ())
    return seen


def share_out(verdicts: list[Verdict], manifests: Mapping[str, ManifestFacts]) -> list[Verdict]:
    """Keep every tag whose manifest a kept tag uses: a DELETE by digest would take it."""
    kept_roots = {v.digest for v in verdicts if not v.goes}
    kept = referenced(kept_roots, manifests)
    keeper: dict[str, str] = {}  # a default branch's tag names the digest first
    for v in sorted(verdicts, key=lambda v: (v.kind is not Kind.DEFAULT, v.tag)):
        if not v.goes:
            keeper.setdefault(v.digest, v.tag)
    shared = []
    for verdict in verdicts:
        if verdict.goes and verdict.digest in kept:
            holder = keeper.get(verdict.digest)
            why = f"kept tag {holder} has the same digest" if holder else "a kept index uses it"
            reason = f"{verdict.reason}, but {why} ({verdict.digest[:19]})"
            verdict = Verdict(verdict.tag, verdict.digest, verdict.kind, False, reason)
        shared.append(verdict)
    return shared


def blob_sizes(digests: Iterable[str], manifests: Mapping[str, ManifestFacts]) -> dict[str, int]:
    """Return the blobs and manifests ``digests`` hold, with their sizes."""
    sizes: dict[str, int] = {}
    for digest in digests:
        facts = manifests.get(digest)
        if facts is not None:
            sizes[digest] = facts.size
            sizes.update(facts.blobs)
    return sizes


def deletions(
    verdicts: list[Verdict], manifests: Mapping[str, ManifestFacts]
) -> tuple[list[Deletion], int]:
    """Return the manifests to delete (an index before its children) and the bytes freed."""
    kept = referenced({v.digest for v in verdicts if not v.goes}, manifests)
    kept_blobs = blob_sizes(kept, manifests)
    doomed: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        if verdict.goes:
            doomed.setdefault(verdict.digest, []).append(verdict)
    planned, freed = [], {}
    for digest, tags in sorted(doomed.items(), key=lambda item: item[1][0].tag):
        children = tuple(sorted(referenced([digest], manifests) - kept - set(doomed)))
        own = blob_sizes([digest, *children], manifests)
        free = {blob: size for blob, size in own.items() if blob not in kept_blobs}
        freed.update(free)
        names = tuple(v.tag for v in tags)
        reason = "; ".join(dict.fromkeys(v.reason for v in tags))
        planned.append(Deletion(digest, names, children, sum(free.values()), reason))
    return planned, sum(freed.values())


def plan_prune(holdings: Holdings, context: Context) -> PrunePlan:
    """Return which tags go, which manifests are deleted, and the bytes that frees."""
    verdicts = share_out(policy_verdicts(holdings, context), holdings.manifests)
    planned, freed = deletions(verdicts, holdings.manifests)
    return PrunePlan(tuple(verdicts), tuple(planned), freed)
