"""Release: name the tested commit's image ``latest`` (or the git tag) inside the registry.

The build writes the commit's tag ``IMAGE:<short-sha>`` and never a release tag. Once
every test job has passed on that image, ``stageline release`` copies its manifest, byte
for byte, to ``IMAGE:latest`` on the default branch and to ``IMAGE:<git tag>`` on a tag
pipeline: the same digest, and no layer moves. A tag that already names that digest is
left alone, so a rerun changes nothing.
"""

from __future__ import annotations

from stageline.actions import registry_image
from stageline.console import Output
from stageline.errors import PlanError
from stageline.image_ref import names_registry_host
from stageline.plan import REF_SEPARATOR, tag_safe
from stageline.reuse import Registries, write_tags
from stageline.settings import Settings


def release_tags(settings: Settings) -> list[str]:
    """Return the tags a release of this ref writes: ``latest`` and/or the git tag."""
    tags = ["latest"] if settings.is_default_branch else []
    if settings.commit_tag:
        tags.append(tag_safe(settings.commit_tag))
    return tags


def release_source(settings: Settings) -> str:
    """Return the commit's tag a release copies, or raise if this run cannot release."""
    if not names_registry_host(settings.image):
        raise PlanError(
            f"release copies tags inside a registry, and {settings.image!r} names none: "
            "set CI_REGISTRY_IMAGE (e.g. registry.example.com/group/app)."
        )
    if not settings.short_sha:
        raise PlanError(
            "release needs the commit's tag: set CI_COMMIT_SHORT_SHA or run it in a git checkout."
        )
    if any(REF_SEPARATOR in tag for tag in release_tags(settings)):
        raise PlanError(
            f"git tag {settings.commit_tag!r} cannot be a release tag: Stageline names stage "
            "images <stage>--<ref>; rename the tag without '--'."
        )
    if not release_tags(settings):
        raise PlanError(
            f"nothing to release on {settings.ref_slug!r}: release writes latest on the default "
            f"branch ({settings.default_branch}) and the git tag on a tag pipeline."
        )
    return f"{settings.image}:{settings.short_sha}"


def release(settings: Settings, output: Output) -> list[str]:
    """Copy the commit's image to the release tags; return the tags that changed."""
    source = release_source(settings)
    registries = Registries(settings)
    found = registry_image(registries, source)
    if found is None:
        raise PlanError(
            f"{source} is not in the registry: build and push this commit first "
            "(stageline build --push), then release it."
        )
    targets = [f"{settings.image}:{tag}" for tag in release_tags(settings)]
    output.header(f"release {source} ({found.manifest.digest}) as {', '.join(targets)}")
    written = write_tags(registries, found, targets, output)
    output.header(f"released {found.manifest.digest}: {len(written)} tags written, no upload")
    return written
