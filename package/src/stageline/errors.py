"""One root error and its few subclasses.

Every foreseeable failure raises a :class:`StagelineError` whose message says what
happened, to what, and what to do next, in one or two lines. The task layer prints
that message and exits 1; nobody sees a traceback for these.
"""


class StagelineError(Exception):
    """A foreseeable failure with a message meant for the user."""


class SettingsError(StagelineError):
    """A setting (environment variable or .env line) is missing or malformed."""


class DockerfileError(StagelineError):
    """The Dockerfile is missing or its stages cannot be used."""


class PlanError(StagelineError):
    """The requested build cannot be planned (unknown stage, clashing tags)."""


class DaemonError(StagelineError):
    """The Docker daemon cannot be reached or refused a request."""


class BuilderUnavailableError(StagelineError):
    """The requested builder is not installed or not usable here."""


class BuildError(StagelineError):
    """A build step failed."""


class RegistryError(StagelineError):
    """The registry refused or could not be reached."""


class RegistryAuthError(RegistryError):
    """The registry rejected the credentials."""


class ToolMissingError(StagelineError):
    """A command-line tool a task runs (docker, docker compose) is not installed."""


class GitError(StagelineError):
    """git cannot tell which branches and tags exist (``stageline prune``)."""
