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
from types import MappingProxyType

from docker.auth import load_config
from docker.errors import DockerException

from stageline.console import Output
from stageline.content_key import KEY_LABEL, KeyInputs, context_files, stage_keys
from stageline.context import BuildContext
from stageline.dockerfile import StageGraph
from stageline.errors import PlanError, RegistryError
from stageline.image_ref import (
    DOCKER_HUB,
    DOCKER_HUB_API,
    names_registry_host,
    parse_image_ref,
    registry_of,
    split_image_ref,
)
from stageline.plan import REF_SEPARATOR, Plan, cache_tag
from stageline.registry_api import Manifest, RegistryAPI
from stageline.settings import Settings

KEY_TAG_PREFIX = "key."
INDEX_PLATFORM = MappingProxyType({"os": "linux", "architecture": "amd64"})


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


def base_digests(
    registries: Registries, graph: StageGraph, names: Iterable[str], output: Output
) -> dict[str, str | None]:
    """Return the digest of each base image the stages build on, None where unresolved."""
    digests: dict[str, str | None] = {}
    for name in names:
        base = graph.node(name).base_image
        if base is None or base in digests:
            continue
        if base == "scratch":
            digests[base] = "scratch"
            continue
        ref = parse_image_ref(base)
        try:
            digests[base] = registries.api(ref.api_host).head_manifest(
                ref.repository, ref.reference
            )
        except RegistryError as exc:
            output.warn(f"cannot resolve base image {base} ({exc}); stage {name} will be built.")
            digests[base] = None
    return digests


def platform_manifest(api: RegistryAPI, repository: str, manifest: Manifest) -> Manifest | None:
    """Return the image manifest ``manifest`` stands for: itself, or an index's amd64 one.

    An index without linux/amd64 gives its first platform's image; one without platforms
    (or whose entry is itself an index) gives None.
    """
    if not manifest.is_index:
        return manifest
    entries = [m for m in manifest.document.get("manifests", []) if m.get("platform", {}).get("os")]
    chosen = [m for m in entries if m["platform"].items() >= INDEX_PLATFORM.items()]
    if not (chosen or entries):
        return None
    inner = api.get_manifest(repository, (chosen or entries)[0]["digest"])
    return inner if inner and not inner.is_index else None


def config_key(api: RegistryAPI, repository: str, image: Manifest) -> str | None:
    """Return the key label in the config of the image manifest ``image``."""
    config = image.document.get("config", {}).get("digest")
    if not config:
        return None
    labels = api.get_json_blob(repository, config).get("config", {}).get("Labels") or {}
    value = labels.get(KEY_LABEL)
    return str(value) if value else None


def image_key(api: RegistryAPI, repository: str, manifest: Manifest) -> str | None:
    """Return the key label of the image ``manifest`` describes (the amd64 one of an index)."""
    image = platform_manifest(api, repository, manifest)
    return config_key(api, repository, image) if image else None


def image_size(image: Manifest) -> int:
    """Return the bytes the registry holds for an image manifest: its config and layers."""
    document = image.document
    blobs = [document.get("config", {}), *document.get("layers", [])]
    return sum(int(blob.get("size", 0)) for blob in blobs)


def candidate_tags(settings: Settings, stage: str, key: str) -> list[str]:
    """Return the tags whose image ``stage`` may reuse, strongest first."""
    own = cache_tag(stage, settings.ref_slug, settings.is_default_branch)
    if not settings.is_default_branch:
        return [own, cache_tag(stage, settings.ref_slug, True)]
    return [own, key_tag(stage, key)] if settings.promote_merged else [own]


def reuse_rule(settings: Settings) -> list[str]:
    """Return, in reading order, the tag patterns whose image a stage may reuse by key."""
    patterns = candidate_tags(settings, "<stage>", "sha256:<key>")
    return [f"{settings.image}:{pattern}" for pattern in patterns]


def find_image(registries: Registries, settings: Settings, stage: str, key: str) -> Found | None:
    """Return the first image under a readable tag whose key is ``key``."""
    image = parse_image_ref(settings.image)
    api = registries.api(image.api_host)
    for tag in candidate_tags(settings, stage, key):
        manifest = api.get_manifest(image.repository, tag)
        platform = platform_manifest(api, image.repository, manifest) if manifest else None
        if manifest and platform and config_key(api, image.repository, platform) == key:
            return Found(f"{settings.image}:{tag}", manifest, image_size(platform))
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
    inputs = KeyInputs(
        files, plan.build_arg_values, base_digests(registries, plan.graph, names, output)
    )
    reuse = Reuse(keys=stage_keys(plan.graph, names, inputs))
    if plan.no_cache:
        return reuse
    try:
        for name in names:
            key = reuse.keys[name]
            found = find_image(registries, settings, name, key) if key else None
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
