"""What the user sees: header lines, live output, warnings and the summary table.

On a terminal, rich draws tables and progress bars; in CI (not a TTY) the same
calls print plain lines that read well in a job log.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO

from rich.console import Console
from rich.table import Table

from stageline.report import BuildReport


def human_size(size: float) -> str:
    """Return ``size`` bytes as a short human-readable string (MB are 10^6 bytes)."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover - loop always returns


class Output:
    """Prints headers, raw build output, warnings and tables."""

    def __init__(self, stream: IO[str] | None = None, force_plain: bool = False) -> None:
        self.console = Console(
            file=stream or sys.stdout,
            highlight=False,
            soft_wrap=True,
            force_terminal=False if force_plain else None,
        )
        self.errors = Console(file=sys.stderr, highlight=False, soft_wrap=True)

    @property
    def interactive(self) -> bool:
        """Return whether output goes to a terminal (progress bars) or a log (plain lines)."""
        return self.console.is_terminal

    def header(self, text: str) -> None:
        """Print one header line announcing an action."""
        self.console.print(f"==> {text}", style="bold", markup=False)

    def line(self, text: str) -> None:
        """Print one line of tool output exactly as given."""
        self.console.print(text, markup=False)

    def warn(self, text: str) -> None:
        """Print a warning line (to stderr)."""
        self.errors.print(f"warning: {text}", style="yellow", markup=False)

    def table(self, title: str, columns: list[str], rows: Iterable[list[str]]) -> None:
        """Print a table (boxed on a terminal, aligned plain text in a log)."""
        table = Table(title=title, title_justify="left", box=None)
        for index, column in enumerate(columns):
            table.add_column(column, justify="left" if index == 0 else "right", no_wrap=True)
        for row in rows:
            table.add_row(*row)
        self.console.print(table)


def print_summary(output: Output, report: BuildReport) -> None:
    """Print the per-stage summary table: steps cached/total, seconds, size."""
    rows = []
    for stage in report.stages:
        steps = "-" if stage.outcome == "reused" else f"{stage.cached_steps}/{stage.steps}"
        rows.append(
            [
                stage.name,
                stage.outcome,
                steps,
                f"{stage.seconds:.1f}",
                human_size(stage.size_bytes),
            ]
        )
    output.table(
        f"{report.image} on {report.ref} ({report.builder} builder, {report.total_seconds:.1f} s)",
        ["stage", "outcome", "cached/steps", "seconds", "size"],
        rows,
    )
