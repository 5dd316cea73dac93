"""Pure planning: stages + settings -> the tags each stage gets and its cache sources.

Tag policy
----------
* The default branch reads and writes ``IMAGE:<stage>``.
* Any other ref reads ``IMAGE:<stage>--<ref-slug>`` first and the default branch's
  ``IMAGE:<stage>`` second, and writes only its own.
* The final stage also gets ``IMAGE:<short-sha>``, ``IMAGE:latest`` on the default
  branch, and the git tag on tag pipelines.

Stage names may not contain ``--`` (the Dockerfile parser refuses it), so
``<stage>--<ref>`` is never ambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stageline.dockerfile import DockerfileInfo
from stageline.errors import PlanError
from stageline.settings import Settings

MAX_TAG_LENGTH = 128
REF_SEPARATOR = "--"


@dataclass(frozen=True)
class StagePlan:
    """What building one stage reads and writes."""

    name: str
    tags: tuple[str, ...]
    cache_from: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """The whole build: stages in Dockerfile order, up to the requested one."""

    image: str
    ref: str
    default_branch: bool
    no_cache: bool
    stages: tuple[StagePlan, ...]
    build_args: tuple[tuple[str, str], ...]

    @property
    def pulls(self) -> list[str]:
        """Return every cache source of the plan, once each, in the order first needed."""
        seen: dict[str, None] = {}
        for stage in self.stages:
            for ref in stage.cache_from:
                seen.setdefault(ref, None)
        return list(seen)

    @property
    def pushes(self) -> list[str]:
        """Return every tag this ref may write, in stage order."""
        return [tag for stage in self.stages for tag in stage.tags]

    def stage(self, name: str) -> StagePlan:
        """Return the plan of stage ``name``."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise PlanError(f"stage {name!r} is not in this plan.")


def cache_tag(stage: str, ref_slug: str, default_branch: bool) -> str:
    """Return the tag (without image) under which ``ref`` caches ``stage``."""
    if default_branch:
        return stage
    room = MAX_TAG_LENGTH - len(stage) - len(REF_SEPARATOR)
    return f"{stage}{REF_SEPARATOR}{ref_slug[:room].rstrip('-')}"


def tag_safe(text: str) -> str:
    """Return ``text`` made into a valid Docker tag (invalid characters become ``-``)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "-", text).lstrip(".-")[:MAX_TAG_LENGTH]
    if not safe:
        raise PlanError(f"{text!r} has nothing a Docker tag can use; rename the git tag.")
    return safe


def stages_up_to(names: list[str], target: str | None) -> list[str]:
    """Return the stages to build for ``target`` (it and every stage before it)."""
    if target is None:
        return list(names)
    if target not in names:
        raise PlanError(f"unknown stage {target!r}; the Dockerfile has: {', '.join(names)}.")
    return names[: names.index(target) + 1]


def make_plan(
    settings: Settings,
    dockerfile: DockerfileInfo,
    target: str | None = None,
    no_cache: bool = False,
) -> Plan:
    """Return the build plan for ``target`` (default: every stage)."""
    names = dockerfile.stage_names
    chosen = stages_up_to(names, target)
    final = names[-1]
    default = settings.is_default_branch
    image = settings.image

    plans: list[StagePlan] = []
    sources: list[str] = []
    owners: dict[str, str] = {}

    def claim(tag: str, role: str) -> str:
        if tag in owners:
            raise PlanError(
                f"tag {image}:{tag} would be both {owners[tag]} and {role}; "
                "rename the stage or the git tag."
            )
        owners[tag] = role
        return f"{image}:{tag}"

    for name in chosen:
        tags = [claim(cache_tag(name, settings.ref_slug, default), f"the {name} cache")]
        own_sources = [tags[0]]
        if not default:
            own_sources.append(f"{image}:{cache_tag(name, settings.ref_slug, True)}")
        if name == final:
            if settings.short_sha:
                tags.append(claim(settings.short_sha, "the commit's image"))
            if default:
                tags.append(claim("latest", "the latest image"))
            if settings.commit_tag:
                tags.append(claim(tag_safe(settings.commit_tag), "the git tag's image"))
        sources.extend(own_sources)
        plans.append(
            StagePlan(
                name=name,
                tags=tuple(tags),
                cache_from=() if no_cache else tuple(sources),
            )
        )

    build_args = settings.build_args_for(list(dockerfile.global_args))
    return Plan(
        image=image,
        ref=settings.ref_slug,
        default_branch=default,
        no_cache=no_cache,
        stages=tuple(plans),
        build_args=tuple(sorted(build_args.items())),
    )
