"""``stageline prune``'s effects: read the repository, show the plan, delete by digest.

:mod:`stageline.prune_policy` decides; this module reads what it decides on (every tag's
manifest, an index's children, the blobs' sizes, the image configs' ``created``), prints
the plan, and with ``apply`` deletes each manifest the plan names (an index before its
children). Before deleting it lists the tags again: a manifest a tag written meanwhile
points at is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from stageline.console import Output, human_size
from stageline.dockerfile import read_dockerfile
from stageline.errors import SettingsError
from stageline.image_ref import names_registry_host, parse_image_ref
from stageline.live_refs import read_live_refs
from stageline.prune_policy import (
    Context,
    Deletion,
    Holdings,
    Kind,
    ManifestFacts,
    PrunePlan,
    classify,
    plan_prune,
)
from stageline.registry_api import Manifest, RegistryAPI
from stageline.reuse import Registries, platform_manifest
from stageline.settings import Settings

DATED_KINDS = (Kind.COMMIT, Kind.KEY)


def image_blobs(image: Manifest) -> dict[str, int]:
    """Return the config and layer blobs of an image manifest, with their sizes."""
    document = image.document
    blobs = [document.get("config", {}), *document.get("layers", [])]
    return {str(b["digest"]): int(b.get("size", 0)) for b in blobs if b.get("digest")}


def image_created(api: RegistryAPI, repository: str, manifest: Manifest) -> datetime | None:
    """Return the ``created`` date of the image ``manifest`` stands for (None: none given)."""
    image = platform_manifest(api, repository, manifest)
    config = image.document.get("config", {}).get("digest") if image else None
    if not config:
        return None
    created = api.get_json_blob(repository, config).get("created")
    try:
        moment = datetime.fromisoformat(str(created)) if created else None
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo else None


def manifest_facts(
    api: RegistryAPI, repository: str, manifest: Manifest, dated: bool
) -> list[ManifestFacts]:
    """Return the facts of ``manifest`` and, for an index, of each child it lists."""
    created = image_created(api, repository, manifest) if dated else None
    if not manifest.is_index:
        return [
            ManifestFacts(
                manifest.digest, len(manifest.content), (), image_blobs(manifest), created
            )
        ]
    children = []
    for entry in manifest.document.get("manifests", []):
        child = api.get_manifest(repository, str(entry.get("digest")))
        if child is not None:
            children.append(ManifestFacts(child.digest, len(child.content), (), image_blobs(child)))
    top = ManifestFacts(
        manifest.digest, len(manifest.content), tuple(c.digest for c in children), {}, created
    )
    return [top, *children]


def read_holdings(api: RegistryAPI, repository: str, stages: Iterable[str]) -> Holdings:
    """Return every tag of ``repository`` with its manifest, and the manifests' facts.

    Dates (one config read each) are read only for manifests a commit or key tag names.
    """
    stages = tuple(stages)
    named: dict[str, Manifest] = {}
    for tag in api.list_tags(repository):
        manifest = api.get_manifest(repository, tag)
        if manifest is not None:  # deleted since the list
            named[tag] = manifest
    dated = {m.digest for t, m in named.items() if classify(t, stages).kind in DATED_KINDS}
    manifests: dict[str, ManifestFacts] = {}
    for manifest in {m.digest: m for m in named.values()}.values():
        for facts in manifest_facts(api, repository, manifest, manifest.digest in dated):
            manifests.setdefault(facts.digest, facts)
    return Holdings({t: m.digest for t, m in named.items()}, manifests)


def retagged(api: RegistryAPI, repository: str, held: Mapping[str, str]) -> dict[str, str]:
    """Return the tags written since ``held`` was read, with their digests."""
    fresh = {}
    for tag in set(api.list_tags(repository)) - set(held):
        digest = api.head_manifest(repository, tag)
        if digest:
            fresh[digest] = tag
    return fresh


def apply_plan(
    api: RegistryAPI, repository: str, plan: PrunePlan, held: Holdings, output: Output
) -> list[Deletion]:
    """Delete each manifest of ``plan`` (an index, then its children); return those deleted."""
    fresh = retagged(api, repository, held.tags)
    done = []
    for deletion in plan.deletions:
        if deletion.digest in fresh:
            output.warn(
                f"{deletion.digest[:19]} was tagged {fresh[deletion.digest]} meanwhile: kept."
            )
            continue
        api.delete_manifest(repository, deletion.digest)
        for child in deletion.children:
            api.delete_manifest(repository, child)
        output.line(f"deleted {deletion.digest[:19]} ({', '.join(deletion.tags)})")
        done.append(deletion)
    return done


def show_plan(plan: PrunePlan, image: str, source: str, context: Context, output: Output) -> None:
    """Print what goes (by manifest, with tags, reason and bytes) and what is kept despite."""
    refs = context.refs
    output.line(
        f"refs from {source}: {len(refs.branches)} branches, {len(refs.tags)} tags; "
        f"default branch {refs.default_branch}"
    )
    for deletion in plan.deletions:
        children = f", {len(deletion.children)} child manifests" if deletion.children else ""
        output.line(
            f"  goes: {image}@{deletion.digest[:19]} ({human_size(deletion.freed_bytes)}"
            f"{children}): {', '.join(deletion.tags)} - {deletion.reason}"
        )
    for verdict in plan.kept:
        if ", but " in verdict.reason:
            output.line(f"  kept: {verdict.tag} - {verdict.reason}")


def summary(plan: PrunePlan, applied: list[Deletion] | None) -> str:
    """Return the last line: how many tags and manifests go, the bytes, how many are kept."""
    deletions = plan.deletions if applied is None else tuple(applied)
    whole = len(deletions) == len(plan.deletions)
    freed = plan.freed_bytes if whole else sum(d.freed_bytes for d in deletions)
    tags = sum(len(d.tags) for d in deletions)
    kinds: dict[str, int] = {}
    for verdict in plan.kept:
        kinds[verdict.kind.value] = kinds.get(verdict.kind.value, 0) + 1
    kept = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    return (
        f"summary: {tags} of {len(plan.verdicts)} tags on {len(deletions)} manifests "
        f"{'would go' if applied is None else 'deleted'} ({human_size(freed)} of blobs no kept "
        f"image uses); {len(plan.verdicts) - tags} tags kept ({kept or 'none'})"
    )


def registry_api(settings: Settings) -> tuple[RegistryAPI, str]:
    """Return the client of the image's registry (the job's credentials) and the repository."""
    if not names_registry_host(settings.image):
        raise SettingsError(
            f"image {settings.image} names no registry: prune deletes from a registry; "
            "set CI_REGISTRY_IMAGE (e.g. registry.example.com/group/app)."
        )
    image = parse_image_ref(settings.image)
    return Registries(settings).api(image.api_host), image.repository


def run_prune(settings: Settings, apply: bool, now: datetime, output: Output) -> PrunePlan:
    """Plan the prune of the settings' image, print it, and with ``apply`` delete."""
    api, repository = registry_api(settings)
    stages = tuple(read_dockerfile(settings.dockerfile_path).stage_names)
    mode = "deleting" if apply else "dry run, nothing is deleted (--apply deletes)"
    output.header(f"prune {settings.image}: {mode}")
    refs, source = read_live_refs(settings.root, settings.default_branch)
    held = read_holdings(api, repository, stages)
    context = Context(stages, refs, settings.prune, now)
    plan = plan_prune(held, context)
    show_plan(plan, settings.image, source, context, output)
    applied = apply_plan(api, repository, plan, held, output) if apply else None
    output.line(summary(plan, applied))
    if plan.deletions:
        output.line("a deleted manifest's space is freed by the registry's garbage collection.")
    return plan
