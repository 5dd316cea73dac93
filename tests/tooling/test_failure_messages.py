"""Every message docs/failures.md quotes is one the code can print.

The page's table shows, per failure, what a user sees: each message there is a code span
that starts with the prefix the command line adds (``error:``, ``warning:``,
``interrupted:``). Its words are checked against the string literals of the stageline
package and the app's settings (docs quote the app's `.env` message too): each run of
words between placeholders must be a piece of one literal. Placeholders are what the
code fills in: ``...`` (text left out), a quoted value (``'NAME'``, ``'kaniko'``) and an
upper-case word (IMAGE, TAG, N). Issue 26, item 6: the page showed two messages the code
never printed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs/failures.md"
SOURCES = [
    *sorted((ROOT / "package/src/stageline").rglob("*.py")),
    *sorted((ROOT / "config").rglob("*.py")),
]
# What the command line puts before a message, and the module that prints it.
PREFIXES = {
    "error: ": "package/src/stageline/exits.py",
    "warning: ": "package/src/stageline/console.py",
    "interrupted: ": "package/src/stageline/exits.py",
}
# Placeholders: text left out, a quoted value, an upper-case word (not a variable name
# such as DOCKER_HOST, which is literal). What is left is stripped of the punctuation a
# filled-in value may stand next to.
# The Dockerfile's name (STAGELINE_DOCKERFILE) starts a message about one of its lines.
PLACEHOLDER = re.compile(
    r"\(\.\.\.\)|\.\.\.|'[^']*'|(?<![\w=])[A-Z]+(?![\w=])|^Dockerfile(?= line )"
)


def code_spans(cell: str) -> list[str]:
    """Return the code spans of a Markdown table cell (`x` and ``x `y` z``)."""
    return [span.strip() for _, span in re.findall(r"(`+)(.+?)\1", cell)]


def table_rows() -> list[tuple[str, str]]:
    """Return (failure, what you see) of each row of the page's table."""
    rows = []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if line.startswith("| ") and len(cells) == 3 and not set(cells[0]) <= {"-", " "}:
            rows.append((cells[0], cells[1]))
    return rows[1:]  # the header


def quoted_messages() -> list[str]:
    """Return every message the table quotes."""
    return [
        span
        for _, seen in table_rows()
        for span in code_spans(seen)
        if span.startswith(tuple(PREFIXES))
    ]


def literal_pieces() -> list[str]:
    """Return the literal text of every string in the sources; an f-string gives the
    pieces between its replacement fields."""
    pieces: list[str] = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                pieces.append(node.value)
    return pieces


def fragments(message: str) -> list[str]:
    """Return the runs of words of ``message`` (prefix removed) between placeholders; the
    punctuation at a run's end may follow a filled-in value in the code."""
    body = message.split(": ", 1)[1]
    runs = [part.strip(" .;:,?()") for part in PLACEHOLDER.split(body)]
    return [run for run in runs if " " in run]


def test_the_table_quotes_messages() -> None:
    rows = table_rows()
    assert len(rows) >= 15, "docs/failures.md's table was not found"
    assert len(quoted_messages()) >= 15
    for failure, seen in rows:
        shown = [span for span in code_spans(seen) if span.startswith(tuple(PREFIXES))]
        assert shown or seen.startswith("nothing"), (
            f"docs/failures.md, {failure!r}: quote the message with its prefix "
            f"({', '.join(p.strip() for p in PREFIXES)}), or say nothing is shown"
        )
        # A message quoted without its prefix would go unchecked: only names (a variable,
        # an option, a tag) may stand in code spans beside the messages.
        unchecked = [span for span in code_spans(seen) if span not in shown and " " in span]
        assert not unchecked, f"docs/failures.md, {failure!r}: give {unchecked} its prefix"


def test_the_prefixes_are_the_command_lines() -> None:
    for prefix, module in PREFIXES.items():
        assert f'f"{prefix}{{' in (ROOT / module).read_text(encoding="utf-8"), (prefix, module)


@pytest.mark.parametrize("message", quoted_messages())
def test_a_quoted_message_is_one_the_code_prints(message: str) -> None:
    pieces = literal_pieces()
    checked = fragments(message)
    assert checked, f"nothing to check in {message!r}: quote more of the message"
    missing = [words for words in checked if not any(words in piece for piece in pieces)]
    assert not missing, (
        f"docs/failures.md quotes {message!r}, but no string of the code has {missing}"
    )


@pytest.mark.parametrize(
    "message",
    [
        "error: Dockerfile line N: 'FROM ...' has no stage name; ...",
        "error: stage 'NAME' is already defined on line N; ...",
    ],
)
def test_the_check_refuses_the_messages_the_page_used_to_show(message: str) -> None:
    pieces = literal_pieces()
    assert not all(any(words in piece for piece in pieces) for words in fragments(message))
