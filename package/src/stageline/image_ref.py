"""Image references: ``[host[:port]/]path[:tag][@digest]``, read as Docker reads them.

Written once here: which registry a reference names (Docker Hub when the first part
is not a host), its repository inside that registry, and its tag or digest.
"""

from __future__ import annotations

from dataclasses import dataclass

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"


def names_registry_host(image: str) -> bool:
    """Return whether ``image`` starts with a registry host (``host.tld/``, ``host:port/``)."""
    first, _, rest = image.partition("/")
    return bool(rest) and ("." in first or ":" in first or first == "localhost")


def registry_of(ref: str) -> str:
    """Return the registry host of an image reference (Docker Hub when none is named)."""
    return ref.partition("/")[0] if names_registry_host(ref) else DOCKER_HUB


def split_image_ref(ref: str) -> tuple[str, str]:
    """Return ``(repository, tag)`` of ``IMAGE:tag`` (the registry port is not a tag)."""
    repository, _, tag = ref.rpartition(":")
    if not repository or "/" in tag:
        return ref, "latest"
    return repository, tag


@dataclass(frozen=True)
class ImageRef:
    """One image reference, split into what the registry API needs."""

    host: str  # as written, e.g. localhost:5000 or docker.io
    repository: str  # inside the registry, e.g. library/python
    reference: str  # the digest if given, else the tag

    @property
    def api_host(self) -> str:
        """Return the host whose ``/v2/`` API serves this reference."""
        return DOCKER_HUB_API if self.host == DOCKER_HUB else self.host


def familiar_name(ref: str) -> str:
    """Return ``ref`` as BuildKit names it when it looks up a named context for a ``FROM``:
    without Docker Hub's host and ``library/``, and without ``:latest``.
    """
    name = ref.removeprefix(f"{DOCKER_HUB}/").removeprefix("library/")
    return name.removesuffix(":latest")


def pinned_ref(ref: str, digest: str) -> str:
    """Return ``ref``'s repository pinned to ``digest`` (``HOST/REPOSITORY@DIGEST``)."""
    image = parse_image_ref(ref)
    return f"{image.host}/{image.repository}@{digest}"


def parse_image_ref(ref: str) -> ImageRef:
    """Return ``ref`` split into host, repository and tag or digest (default tag: latest)."""
    name, _, digest = ref.partition("@")
    host = registry_of(name)
    path = name.partition("/")[2] if names_registry_host(name) else name
    repository, tag = split_image_ref(path)
    if host == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return ImageRef(host, repository, digest or tag)
