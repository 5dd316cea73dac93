"""How a command ends: exit codes and the one line a user reads, for every front end.

A :class:`~stageline.errors.StagelineError` ends with ``error: <message>`` and exit 1;
Ctrl-C (SIGINT) and SIGTERM (how GitLab cancels a job) end with
``interrupted: <what is safe>`` and exit 130 or 143, after the step in progress has
cleaned up. No traceback is printed for any of them.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass

from stageline.errors import StagelineError

NOTHING_PUSHED = "nothing was pushed by this step."
PUSHED_TAGS_WHOLE = (
    "each tag already pushed is whole (a registry shows a tag only once its manifest "
    "is written); run the push again to push the rest."
)
PRUNE_STOPPED = "each manifest is deleted whole or not at all; run prune again to delete the rest."


@dataclass(frozen=True)
class Ending:
    """How a command ended: its exit code and the line to print on stderr (if any)."""

    code: int
    message: str | None = None


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is."""


def raise_terminated(signum: int, frame: object) -> None:
    """Turn SIGTERM into an interruption, so every step cleans up as on Ctrl-C."""
    raise Terminated


def run_guarded(command: Callable[[], None], interrupted: str = NOTHING_PUSHED) -> Ending:
    """Run ``command`` and return how it ended; SIGTERM is handled for its duration."""
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        command()
    except StagelineError as exc:
        return Ending(1, f"error: {exc}")
    except KeyboardInterrupt as exc:
        code = 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
        return Ending(code, f"interrupted: {interrupted}")
    finally:
        signal.signal(signal.SIGTERM, previous)
    return Ending(0)
