"""Build secrets: values that reach a build only as BuildKit secrets, never anywhere else.

``[tool.stageline] secrets`` and ``--secret`` name them. ``NAME`` is the environment
variable (or ``.env`` line) ``NAME`` under the id ``NAME``; buildx's own forms
``id=ID,env=VAR`` and ``id=ID,src=FILE`` work too. A Dockerfile reads one with
``RUN --mount=type=secret,id=ID`` (the file ``/run/secrets/ID``). A secret that is not
set is left out, so a build that can do without it still builds. Values are handed to
buildx through its environment or a file path: never on a command line, in a build
arg, a label, the plan, the report or the output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from stageline.errors import PlanError
from stageline.settings import Settings

SECRET_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class BuildSecret:
    """Where one build secret comes from (its value is never held here)."""

    id: str
    env: str | None = None
    file: Path | None = None

    @property
    def source(self) -> str:
        """Return where the value comes from, for the plan (never the value)."""
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def buildx_option(self) -> str:
        """Return the value of buildx's ``--secret`` option for this secret."""
        return f"id={self.id},env={self.env}" if self.env else f"id={self.id},src={self.file}"


def parse_secret(text: str, root: Path) -> BuildSecret:
    """Return the secret ``text`` names: ``NAME``, ``id=ID,env=VAR`` or ``id=ID,src=FILE``."""
    if "=" not in text:
        fields = {"id": text, "env": text}
    else:
        fields = dict(part.partition("=")[::2] for part in text.split(","))
        fields = {key.strip().lower(): value.strip() for key, value in fields.items()}
    secret_id, env = fields.get("id", ""), fields.get("env")
    file = fields.get("src") or fields.get("source")
    if (
        not SECRET_ID.match(secret_id)
        or (env is None) == (file is None)
        or set(fields) - {"id", "env", "src", "source", "type"}
    ):
        raise PlanError(
            f"secret {text!r} is not NAME, id=ID,env=VARIABLE or id=ID,src=FILE; "
            "write e.g. --secret PIP_INDEX_URL."
        )
    return BuildSecret(secret_id, env=env, file=None if file is None else root / file)


def chosen_secrets(settings: Settings, options: tuple[str, ...]) -> list[BuildSecret]:
    """Return the secrets the project lists and ``--secret`` adds, each id once."""
    secrets: dict[str, BuildSecret] = {}
    for text in (*settings.secret_specs, *options):
        secret = parse_secret(text, settings.root)
        secrets[secret.id] = secret
    return list(secrets.values())
