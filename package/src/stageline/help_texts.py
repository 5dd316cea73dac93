"""The help of every option, shared by the command line and the invoke tasks.

Keys are an option's name, or ``COMMAND.NAME`` where one command words it differently.
"""

from __future__ import annotations

HELP = {
    "project_dir": "The project's folder: its Dockerfile, pyproject.toml and .env (default: .).",
    "stage": "Only this stage and its ancestors (default: the target and its ancestors).",
    "pull.stage": (
        "Pull the cache sources of this stage and its ancestors only "
        "(default: the target and its ancestors)."
    ),
    "push.stage": (
        "Push the tags of this stage and its ancestors only "
        "(default: the target and its ancestors)."
    ),
    "target": (
        "The stage the image is (default: STAGELINE_TARGET, [tool.stageline] targets or "
        "target, else the last stage)."
    ),
    "platform": (
        "A target platform, os/arch[/variant]; comma-separated or repeatable (default: "
        "STAGELINE_PLATFORMS, [tool.stageline] platforms, else the engine's own)."
    ),
    "build_arg": "NAME=VALUE for an ARG the Dockerfile declares; repeatable.",
    "builder": "auto (default), classic or buildkit; overrides STAGELINE_BUILDER.",
    "secret": "A build secret: NAME (that variable), id=ID,env=VAR or id=ID,src=FILE; repeatable.",
    "no_cache": "Build without any cache and re-pull the base images.",
    "plan.no_cache": "Plan a build without cache.",
    "pull.no_cache": "Pull nothing (the build will not use a cache).",
    "json": "Print the plan as one JSON object (schema in the docs: reference/plan-json).",
    "report": "Write the JSON build report to this file.",
    "push": (
        "Push the tags this ref may write too: BuildKit pushes each built stage straight "
        "from its build, and reused stages are copied inside the registry."
    ),
    "pull.report": "Note each stage's pulled bytes in this JSON report (build keeps them).",
    "push.report": "Add each stage's pushed bytes and copied tags to this JSON report.",
    "metrics": "Write cache-hit ratios as a GitLab metrics report to this file.",
    "down": "Remove the stack's containers instead (the database volume stays).",
    # deploy and rollback
    "environment": (
        "The environment's name, e.g. staging or review/my-branch: the compose project on "
        "the Docker host is <compose name>-<environment>."
    ),
    "deploy.image": (
        "Deploy this image (IMAGE:TAG or IMAGE@sha256:...) instead of the commit's "
        "IMAGE:<short-sha>; a tag is resolved to its digest in the registry."
    ),
    "prune.apply": "Delete what the dry run shows (default: a dry run, nothing is deleted).",
    "prune.now": (
        "Prune as if it were this moment (ISO 8601, e.g. 2030-01-31T12:00:00Z): "
        "for tests and what-ifs (default: now)."
    ),
}
