"""Typed settings, and how they are made from already-read sources (pure).

GitLab's predefined variable names are used wherever one exists, so a laptop with a
``.env`` and a GitLab job configure the same thing the same way.
:func:`parse_settings` turns the variables, the ``[tool.stageline]`` table and what git
said into :class:`Settings`; reading those (the environment, ``.env``, pyproject.toml,
git) is :mod:`stageline.settings_loader`'s job. Nothing is read at import time.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from stageline.dockerfile.platforms import parse_platform
from stageline.errors import DockerfileError, SettingsError

BUILDERS = ("auto", "classic", "buildkit")
# The environment variables that become build args when [tool.stageline] lists none.
DEFAULT_BUILD_ARGS = ("PYTHON_IMAGE", "NODE_IMAGE")

# The grammar of a Docker image reference (distribution/reference), without tag/digest.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE_RE = re.compile(rf"^(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or f-strings."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value; call only where it is handed to the engine."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class PruneRetention:
    """How long ``stageline prune`` keeps commit tags and key tags (see docs/prune.md)."""

    keep_last: int = 10  # commit tags: the newest N of each target are kept
    keep_days: int = 30  # commit tags: and any whose image is younger than this
    key_keep_days: int = 7  # key tags: kept while their image is younger than this


@dataclass(frozen=True)
class Settings:
    """Everything the build library needs to know about this project and this run."""

    root: Path
    image: str
    ref_slug: str
    default_branch: str
    short_sha: str | None = None
    commit_tag: str | None = None
    registry: str | None = None
    registry_user: str | None = None
    registry_password: Secret | None = field(default=None, repr=False)
    dockerfile: Path = Path("Dockerfile")
    builder: str = "auto"
    build_network: str | None = None
    push_retries: int = 4
    targets: tuple[str, ...] = ()  # the images to build; the first is the one released
    platforms: tuple[str, ...] = ()  # the target platforms; none: the engine's own
    targets_source: str = ""  # where ``targets`` came from, for messages
    build_arg_names: tuple[str, ...] = DEFAULT_BUILD_ARGS
    secret_specs: tuple[str, ...] = ()
    promote_merged: bool = False
    environ: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    prune: PruneRetention = PruneRetention()

    @property
    def dockerfile_path(self) -> Path:
        """Return the Dockerfile's absolute path."""
        return self.dockerfile if self.dockerfile.is_absolute() else self.root / self.dockerfile

    @property
    def is_default_branch(self) -> bool:
        """Return whether this run is on the default branch (it writes the shared cache)."""
        return self.commit_tag is None and self.ref_slug == ref_slug(self.default_branch)


@dataclass(frozen=True)
class GitFacts:
    """What git said about the checkout: its branch and short SHA (None: not asked, or none)."""

    branch: str | None = None
    short_sha: str | None = None


def ref_slug(ref: str) -> str:
    """Return GitLab's ``CI_COMMIT_REF_SLUG`` for a branch or tag name.

    Lower-cased, every character but ``0-9a-z`` replaced by ``-``, at most 63
    characters, no leading or trailing ``-``.
    """
    slug = re.sub(r"[^a-z0-9]", "-", ref.lower())[:63]
    return slug.strip("-")


def check_image_name(name: str, variable: str) -> str:
    """Return ``name`` if Docker accepts it as an image name, else raise SettingsError."""
    if not _IMAGE_RE.match(name) or len(name) > 255:
        raise SettingsError(
            f"{variable}={name!r} is not a valid Docker image name: use lower-case "
            "letters, digits and . _ - separated by /, e.g. registry.example.com/group/app."
        )
    return name


def check_tag(tag: str, variable: str) -> str:
    """Return ``tag`` if Docker accepts it as a tag, else raise SettingsError."""
    if not _TAG_RE.match(tag):
        raise SettingsError(
            f"{variable}={tag!r} is not a valid Docker tag: use at most 128 letters, "
            "digits, _ . and -, not starting with . or -."
        )
    return tag


def _int_setting(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise SettingsError(f"{name}={raw!r} is not a whole number >= 0; set it to e.g. {default}.")
    return value


def _names_setting(
    project: Mapping[str, object], key: str, default: tuple[str, ...], example: str
) -> tuple[str, ...]:
    value = project.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise SettingsError(
            f"[tool.stageline] {key} in pyproject.toml must be a list of names, "
            f"e.g. {key} = {example}."
        )
    return tuple(value)


def _targets_setting(env: Mapping[str, str], project: Mapping[str, object]) -> tuple[str, ...]:
    """Return the targets: STAGELINE_TARGET, else ``targets``, else ``target`` (none: the last)."""
    if "target" in project and "targets" in project:
        raise SettingsError(
            "[tool.stageline] has both target and targets; keep one, e.g. "
            'targets = ["production", "development"].'
        )
    if _get(env, "STAGELINE_TARGET"):
        return (env["STAGELINE_TARGET"].lower(),)
    if "targets" in project:
        names = _names_setting(project, "targets", (), '["production", "development"]')
        if not names:
            raise SettingsError(
                '[tool.stageline] targets is empty; name at least one stage, e.g. ["production"].'
            )
        return tuple(dict.fromkeys(name.lower() for name in names))
    value = project.get("target")
    return (str(value).lower(),) if value else ()


PLATFORMS_EXAMPLE = 'platforms = ["linux/amd64", "linux/arm64"]'


def platform_names(texts: list[str], where: str, example: str) -> tuple[str, ...]:
    """Return ``texts`` as platform names (``os/arch[/variant]``), each once, in order."""
    try:
        names = [str(parse_platform(text)) for text in texts]
    except DockerfileError as exc:
        raise SettingsError(f"{where}: {exc}, e.g. {example}.") from None
    if not names:
        raise SettingsError(
            f"{where} names no platform; list os/arch[/variant] ones, e.g. {example}."
        )
    return tuple(dict.fromkeys(names))


def _platforms_setting(env: Mapping[str, str], project: Mapping[str, object]) -> tuple[str, ...]:
    """Return the target platforms: STAGELINE_PLATFORMS, else ``platforms`` (none: the engine's)."""
    raw = _get(env, "STAGELINE_PLATFORMS")
    if raw is not None:
        texts = [text for text in raw.split(",") if text.strip()]
        return platform_names(texts, f"STAGELINE_PLATFORMS={raw!r}", "linux/amd64,linux/arm64")
    if "platforms" not in project:
        return ()
    value = project["platforms"]
    where = "[tool.stageline] platforms in pyproject.toml"
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SettingsError(
            f"{where} must be a list of os/arch[/variant] platforms, e.g. {PLATFORMS_EXAMPLE}."
        )
    return platform_names(value, where, PLATFORMS_EXAMPLE)


def _targets_source(env: Mapping[str, str], project: Mapping[str, object]) -> str:
    """Return where the targets come from, as a message names it (empty: nowhere)."""
    if _get(env, "STAGELINE_TARGET"):
        return "STAGELINE_TARGET"
    for key in ("targets", "target"):
        if project.get(key):
            return f"[tool.stageline] {key} in pyproject.toml"
    return ""


def _flag_setting(
    env: Mapping[str, str], project: Mapping[str, object], variable: str, key: str
) -> bool:
    raw = env.get(variable)
    if raw:
        if raw.lower() not in ("1", "true", "yes", "0", "false", "no"):
            raise SettingsError(f"{variable}={raw!r} is not a switch; set it to true or false.")
        return raw.lower() in ("1", "true", "yes")
    value = project.get(key, False)
    if not isinstance(value, bool):
        raise SettingsError(f"[tool.stageline] {key} must be true or false, e.g. {key} = true.")
    return value


def _get(env: Mapping[str, str], name: str) -> str | None:
    """Return a variable's value; an empty one counts as unset."""
    return env.get(name) or None


def _image_setting(env: Mapping[str, str], project: Mapping[str, object], root: Path) -> str:
    default_image = str(project.get("image") or ref_slug(root.name) or "app")
    return check_image_name(_get(env, "CI_REGISTRY_IMAGE") or default_image, "CI_REGISTRY_IMAGE")


def _ref_settings(
    env: Mapping[str, str], project: Mapping[str, object], git: GitFacts
) -> tuple[str, str]:
    """Return the default branch and this ref's tag-safe slug (GitLab's, else git's branch)."""
    default_branch = _get(env, "CI_DEFAULT_BRANCH") or str(project.get("default-branch") or "main")
    slug = _get(env, "CI_COMMIT_REF_SLUG")
    if slug is None:
        ref = _get(env, "CI_COMMIT_REF_NAME") or git.branch
        slug = ref_slug(ref) if ref and ref != "HEAD" else ref_slug(default_branch)
    slug = ref_slug(slug)
    if not slug:
        raise SettingsError(
            "CI_COMMIT_REF_SLUG is empty after making it tag-safe; set it to the branch name."
        )
    return default_branch, slug


def _short_sha_setting(env: Mapping[str, str], git: GitFacts) -> str | None:
    short_sha = _get(env, "CI_COMMIT_SHORT_SHA") or git.short_sha
    return check_tag(short_sha, "CI_COMMIT_SHORT_SHA") if short_sha is not None else None


def _builder_setting(env: Mapping[str, str]) -> str:
    builder = (_get(env, "STAGELINE_BUILDER") or "auto").lower()
    if builder not in BUILDERS:
        raise SettingsError(
            f"STAGELINE_BUILDER={builder!r} is not a builder: use one of {', '.join(BUILDERS)}."
        )
    return builder


def _registry_login(
    env: Mapping[str, str], image: str
) -> tuple[str | None, str | None, str | None]:
    """Return the registry host, user and password (CI_REGISTRY_*, else CI_JOB_TOKEN)."""
    user, password = _get(env, "CI_REGISTRY_USER"), _get(env, "CI_REGISTRY_PASSWORD")
    if user is None and password is None and _get(env, "CI_JOB_TOKEN"):
        user, password = "gitlab-ci-token", _get(env, "CI_JOB_TOKEN")
    if (user is None) != (password is None):
        missing = "CI_REGISTRY_PASSWORD" if password is None else "CI_REGISTRY_USER"
        raise SettingsError(
            f"{missing} is not set but its partner is: set both CI_REGISTRY_USER and "
            "CI_REGISTRY_PASSWORD, or neither."
        )
    registry = _get(env, "CI_REGISTRY")
    if user is not None and registry is None:
        registry = image.split("/", 1)[0] if "/" in image else None
        if registry is None or not ("." in registry or ":" in registry or registry == "localhost"):
            raise SettingsError(
                "CI_REGISTRY_USER is set but CI_REGISTRY is not: set CI_REGISTRY to the "
                "registry host, e.g. registry.gitlab.com."
            )
    return registry, user, password


def needs_git(env: Mapping[str, str]) -> tuple[bool, bool]:
    """Return whether the branch and the short SHA must come from git (no variable says)."""
    branch = _get(env, "CI_COMMIT_REF_SLUG") is None and _get(env, "CI_COMMIT_REF_NAME") is None
    return branch, _get(env, "CI_COMMIT_SHORT_SHA") is None


# The keys of [tool.stageline], and the type each takes.
PROJECT_KEYS: Mapping[str, type] = MappingProxyType(
    {
        "image": str,
        "default-branch": str,
        "target": str,
        "targets": list,
        "platforms": list,
        "build-args": list,
        "secrets": list,
        "promote-merged": bool,
        "prune": dict,
    }
)


def check_project_table(project: Mapping[str, object]) -> None:
    """Raise SettingsError for an unknown key of [tool.stageline], or a value of the wrong type."""
    for key, value in project.items():
        expected = PROJECT_KEYS.get(key)
        if expected is None:
            known = ", ".join(sorted(PROJECT_KEYS))
            near = difflib.get_close_matches(key, list(PROJECT_KEYS), n=1)
            meant = f" (did you mean {near[0]!r}?)" if near else ""
            raise SettingsError(
                f"[tool.stageline] in pyproject.toml has no setting {key!r}{meant}; "
                f"remove it or use one of: {known}."
            )
        # Lists of names are checked item by item where they are read (_names_setting).
        if expected is not list and not isinstance(value, expected):
            raise SettingsError(
                f"[tool.stageline] {key} in pyproject.toml must be a {expected.__name__}, "
                f"not {type(value).__name__}; see the settings reference."
            )


def parse_settings(
    root: Path, env: Mapping[str, str], project: Mapping[str, object], git: GitFacts
) -> Settings:
    """Return the settings made from the variables (``.env`` merged in), the project's
    ``[tool.stageline]`` table and what git said; raise SettingsError for a bad value.
    """
    check_project_table(project)
    image = _image_setting(env, project, root)
    default_branch, slug = _ref_settings(env, project, git)
    registry, user, password = _registry_login(env, image)
    return Settings(
        root=root,
        image=image,
        ref_slug=slug,
        default_branch=default_branch,
        short_sha=_short_sha_setting(env, git),
        commit_tag=_get(env, "CI_COMMIT_TAG"),
        registry=registry,
        registry_user=user,
        registry_password=Secret(password) if password is not None else None,
        dockerfile=Path(_get(env, "STAGELINE_DOCKERFILE") or "Dockerfile"),
        builder=_builder_setting(env),
        build_network=_get(env, "STAGELINE_BUILD_NETWORK"),
        push_retries=_int_setting(env, "STAGELINE_PUSH_RETRIES", 4),
        targets=_targets_setting(env, project),
        platforms=_platforms_setting(env, project),
        targets_source=_targets_source(env, project),
        build_arg_names=_names_setting(
            project, "build-args", DEFAULT_BUILD_ARGS, '["PYTHON_IMAGE", "NODE_IMAGE"]'
        ),
        secret_specs=_names_setting(project, "secrets", (), '["PIP_INDEX_URL"]'),
        promote_merged=_flag_setting(env, project, "STAGELINE_PROMOTE_MERGED", "promote-merged"),
        environ=dict(env),
        prune=_prune_setting(project),
    )


# [tool.stageline] prune: the retention of `stageline prune`.
PRUNE_EXAMPLE = "prune = {keep-last = 10, keep-days = 30, key-keep-days = 7}"
PRUNE_KEYS = ("keep-last", "keep-days", "key-keep-days")


def _prune_setting(project: Mapping[str, object]) -> PruneRetention:
    """Return the retention of ``[tool.stageline] prune``; refuse unknown keys and bad values."""
    table = project.get("prune", {})
    if not isinstance(table, dict):
        raise SettingsError(f"[tool.stageline] prune must be a table, e.g. {PRUNE_EXAMPLE}.")
    values: dict[str, int] = {}
    for key, value in table.items():
        if key not in PRUNE_KEYS:
            raise SettingsError(
                f"[tool.stageline] prune has no key {key!r}; use {', '.join(PRUNE_KEYS)}, "
                f"e.g. {PRUNE_EXAMPLE}."
            )
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SettingsError(
                f"[tool.stageline] prune {key} must be a whole number >= 0, not {value!r}; "
                f"e.g. {PRUNE_EXAMPLE}."
            )
        values[key.replace("-", "_")] = value
    return PruneRetention(**values)
