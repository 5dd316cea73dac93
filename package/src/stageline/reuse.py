"""Reuse by content key: find each stage's key in the registry, and retag there.

Before anything is pulled or built, each planned stage's key (:mod:`stageline.content_key`)
is compared with the key label of the images under the tags this ref may read: its own
``IMAGE:<stage>--<ref>`` first, then the default branch's ``IMAGE:<stage>``; the default
branch reads only its own, and with ``promote-merged`` also the key tag
``IMAGE:<stage>--key.<key>`` that any ref's push writes. A stage whose key is found is
``reused``: neither pulled nor built. ``push-stages`` then writes its tags by copying the
manifest inside the registry (same bytes, same digest): no pull, no upload.

Each comparison costs a manifest and a config request; no layer moves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from docker.auth import load_config
from docker.errors import DockerException

from stageline.console import Output
from stageline.content_key import KEY_LABEL, KeyInputs, context_files, stage_keys
from stageline.context import BuildContext
from stageline.dockerfile import StageGraph
from stageline.errors import PlanError, RegistryError
from stageline.image_index import entry_for, platform_entries
from stageline.image_ref import (
    DOCKER_HUB,
    DOCKER_HUB_API,
    familiar_name,
    names_registry_host,
    parse_image_ref,
    pinned_ref,
    registry_of,
    split_image_ref,
)
from stageline.plan import REF_SEPARATOR, Plan, cache_tag
from stageline.registry_api import Manifest, RegistryAPI
from stageline.settings import Settings
from stageline.stage_platforms import StagePlatforms

KEY_TAG_PREFIX = "key."


@dataclass(frozen=True)
class Found:
    """A registry image that carries a stage's key.

    ``manifest`` is what ``ref`` names (an index, where BuildKit pushed one): tags copy it.
    ``size_bytes`` is the platform image's size in the registry (:func:`image_size`); 0
    where it was not looked up.
    """

    ref: str
    manifest: Manifest
    size_bytes: int = 0


@dataclass
class Reuse:
    """Each planned stage's key, and the registry image found for it (if any)."""

    keys: dict[str, str | None] = field(default_factory=dict)
    found: dict[str, Found] = field(default_factory=dict)
    bases: dict[str, str] = field(default_factory=dict)  # base image -> REPOSITORY@DIGEST

    def reused(self, stage: str) -> bool:
        """Return whether ``stage`` needs no pull and no build."""
        return stage in self.found


def key_tag(stage: str, key: str) -> str:
    """Return the tag that names ``stage``'s image by key (a ref slug has no ``.``)."""
    return f"{stage}{REF_SEPARATOR}{KEY_TAG_PREFIX}{key.removeprefix('sha256:')[:40]}"


def credentials_for(settings: Settings, host: str) -> tuple[str, str] | None:
    """Return the credentials for registry ``host``: CI_REGISTRY's, else the docker config's."""
    own = settings.registry or registry_of(settings.image)
    if host == own and settings.registry_user and settings.registry_password:
        return settings.registry_user, settings.registry_password.reveal()
    # The docker config names Docker Hub's logins by its index, not by its API host.
    lookup = DOCKER_HUB if host == DOCKER_HUB_API else host
    try:
        auth = load_config(config_path=None).resolve_authconfig(lookup) or {}
    except (DockerException, OSError, ValueError):
        return None
    # A credential helper's answer is capitalised; a login stored in the file is not.
    user = auth.get("Username") or auth.get("username")
    password = auth.get("Password") or auth.get("password")
    return (str(user), str(password)) if user and password else None


class Registries:
    """One API client per registry host, with that host's credentials."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clients: dict[str, RegistryAPI] = {}

    def api(self, host: str) -> RegistryAPI:
        """Return the client of ``host`` (``docker.io`` is Docker Hub's API host)."""
        if host not in self.clients:
            self.clients[host] = RegistryAPI(host, credentials_for(self.settings, host))
        return self.clients[host]


def stage_platforms_of(plan: Plan) -> dict[str, StagePlatforms]:
    """Return the platforms each planned stage is built for, as content keys take them."""
    return {s.name: StagePlatforms(s.platforms, s.base_platform) for s in plan.stages}


def base_digests(
    registries: Registries,
    plan: Plan,
    graph: StageGraph,
    manifests: dict[str, Manifest | None],
    output: Output,
) -> dict[tuple[str, str], str | None]:
    """Return the digest of each base image the stages build on, for each platform they
    build on it (from the base image's index), None where unresolved.

    ``manifests`` receives each base image's manifest (or index) as read.
    """
    digests: dict[tuple[str, str], str | None] = {}
    for stage in plan.stages:
        base = graph.node(stage.name).base_image
        if base is None:
            continue
        for platform in StagePlatforms(stage.platforms, stage.base_platform).base_platforms:
            if (base, platform) not in digests:
                digest = base_digest(registries, base, platform, manifests, output)
                digests[base, platform] = digest
                if digest is None:
                    output.warn(f"stage {stage.name} will be built: its base is not resolved.")
    return digests


def base_digest(
    registries: Registries,
    base: str,
    platform: str,
    manifests: dict[str, Manifest | None],
    output: Output,
) -> str | None:
    """Return the digest of ``base``'s image for ``platform`` (the index's entry), or None.

    ``manifests`` keeps each base image's manifest, read once per run.
    """
    if base == "scratch":
        return "scratch"
    ref = parse_image_ref(base)
    if base not in manifests:
        try:
            manifests[base] = registries.api(ref.api_host).get_manifest(
                ref.repository, ref.reference
            )
        except RegistryError as exc:
            output.warn(f"cannot resolve base image {base} ({exc}).")
            manifests[base] = None
    manifest = manifests[base]
    if manifest is None or not manifest.is_index:
        return manifest.digest if manifest else None
    digest = entry_for(manifest.document, platform)
    if digest is None:
        output.warn(f"base image {base} has no {platform} image.")
    return digest


def base_pins(manifests: dict[str, Manifest | None]) -> dict[str, str]:
    """Return each base image read (by the name BuildKit looks it up under) pinned to the
    digest its content keys were made from, so the build cannot take another image of
    that name, such as a stale single-platform tag in the engine.
    """
    return {
        familiar_name(base): pinned_ref(base, manifest.digest)
        for base, manifest in manifests.items()
        if manifest is not None and base != "scratch" and "@" not in base
    }


def platform_manifest(
    api: RegistryAPI, repository: str, manifest: Manifest, platform: str | None = None
) -> Manifest | None:
    """Return the image manifest ``manifest`` stands for: itself, or an index's entry for
    ``platform`` (None: its first platform's). None when the index has no such entry, or
    the entry is itself an index.
    """
    if not manifest.is_index:
        return manifest
    if platform is None:
        entries = platform_entries(manifest.document)
        digest = entries[0][1] if entries else None
    else:
        digest = entry_for(manifest.document, platform)
    if digest is None:
        return None
    inner = api.get_manifest(repository, digest)
    return inner if inner and not inner.is_index else None


def config_key(api: RegistryAPI, repository: str, image: Manifest) -> str | None:
    """Return the key label in the config of the image manifest ``image``."""
    config = image.document.get("config", {}).get("digest")
    if not config:
        return None
    labels = api.get_json_blob(repository, config).get("config", {}).get("Labels") or {}
    value = labels.get(KEY_LABEL)
    return str(value) if value else None


def image_key(
    api: RegistryAPI, repository: str, manifest: Manifest, platform: str | None = None
) -> str | None:
    """Return the key label of the image ``manifest`` describes (an index's for ``platform``,
    or its first platform's).
    """
    image = platform_manifest(api, repository, manifest, platform)
    return config_key(api, repository, image) if image else None


def image_size(image: Manifest) -> int:
    """Return the bytes the registry holds for an image manifest: its config and layers."""
    document = image.document
    blobs = [document.get("config", {}), *document.get("layers", [])]
    return sum(int(blob.get("size", 0)) for blob in blobs)


def candidate_tags(settings: Settings, stage: str, key: str, suffix: str = "") -> list[str]:
    """Return the tags whose image ``stage`` may reuse, strongest first (a per-platform
    job's ``suffix`` on each).
    """
    own = cache_tag(stage, settings.ref_slug, settings.is_default_branch, suffix)
    if not settings.is_default_branch:
        return [own, cache_tag(stage, settings.ref_slug, True, suffix)]
    return [own, key_tag(stage, key) + suffix] if settings.promote_merged else [own]


def reuse_rule(settings: Settings) -> list[str]:
    """Return, in reading order, the tag patterns whose image a stage may reuse by key."""
    patterns = candidate_tags(settings, "<stage>", "sha256:<key>")
    return [f"{settings.image}:{pattern}" for pattern in patterns]


def platform_images(
    api: RegistryAPI, repository: str, manifest: Manifest, platforms: tuple[str, ...]
) -> list[Manifest] | None:
    """Return the image manifest of each of ``platforms`` under ``manifest``, or None when
    one is missing. A single manifest serves one platform (its key names which).
    """
    if not manifest.is_index:
        return [manifest] if len(platforms) == 1 else None
    images = [platform_manifest(api, repository, manifest, p) for p in platforms]
    return None if any(image is None for image in images) else [i for i in images if i]


def find_image(
    registries: Registries,
    settings: Settings,
    stage: str,
    key: str,
    platforms: tuple[str, ...] = ("linux/amd64",),
    suffix: str = "",
) -> Found | None:
    """Return the first image under a readable tag whose every platform image (each of
    ``platforms``) carries the key ``key``.
    """
    image = parse_image_ref(settings.image)
    api = registries.api(image.api_host)
    for tag in candidate_tags(settings, stage, key, suffix):
        manifest = api.get_manifest(image.repository, tag)
        images = platform_images(api, image.repository, manifest, platforms) if manifest else None
        if manifest and images and all(config_key(api, image.repository, i) == key for i in images):
            return Found(f"{settings.image}:{tag}", manifest, image_size(images[0]))
    return None


def find_reusable(
    registries: Registries, plan: Plan, context: BuildContext, output: Output
) -> Reuse:
    """Return each stage's key and, unless ``--no-cache``, the image that already has it."""
    if plan.graph is None:
        raise PlanError("the plan has no stage graph; make it with make_plan().")
    settings = registries.settings
    names = [stage.name for stage in plan.stages]
    if not names_registry_host(settings.image):
        return Reuse(keys=dict.fromkeys(names))  # a local image: no registry to compare with
    with context.read_tar() as tar:
        files = context_files(tar)
    manifests: dict[str, Manifest | None] = {}
    digests = base_digests(registries, plan, plan.graph, manifests, output)
    inputs = KeyInputs(files, plan.build_arg_values, digests, stage_platforms_of(plan))
    reuse = Reuse(keys=stage_keys(plan.graph, names, inputs), bases=base_pins(manifests))
    if plan.no_cache:
        return reuse
    try:
        for name in names:
            key = reuse.keys[name]
            platforms, suffix = plan.stage(name).platforms, plan.tag_suffix
            found = find_image(registries, settings, name, key, platforms, suffix) if key else None
            if found is not None:
                reuse.found[name] = found
    except RegistryError as exc:
        output.warn(f"cannot compare content keys in the registry ({exc}); building every stage.")
        reuse.found.clear()
    return reuse


def write_tags(
    registries: Registries, found: Found, tags: Iterable[str], output: Output
) -> list[str]:
    """Copy ``found``'s manifest to each of ``tags`` (``IMAGE:tag``) that differs; return them."""
    image = parse_image_ref(registries.settings.image)
    api = registries.api(image.api_host)
    written = []
    for ref in tags:
        tag = split_image_ref(ref)[1]
        if api.head_manifest(image.repository, tag) == found.manifest.digest:
            output.line(f"  {ref}: already {found.manifest.digest[:19]}")
            continue
        api.put_manifest(image.repository, tag, found.manifest)
        output.line(f"  {ref}: copied from {found.ref} ({found.manifest.digest[:19]}, no upload)")
        written.append(ref)
    return written
