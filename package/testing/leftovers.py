"""What a run left behind: text anywhere in an image, processes still running."""

from __future__ import annotations

import os
from pathlib import Path

from docker import APIClient


def image_contains(api: APIClient, image: str, needles: list[bytes]) -> list[bytes]:
    """Return those ``needles`` found anywhere in ``docker save IMAGE``.

    The saved tar holds the image config (env, labels, history) and every layer as
    an uncompressed tar, so this searches every file of every layer too.
    """
    longest = max(len(needle) for needle in needles)
    found: set[bytes] = set()
    tail = b""
    for chunk in api.get_image(image, chunk_size=1024 * 1024):
        window = tail + chunk
        found.update(needle for needle in needles if needle in window)
        tail = window[-longest:]
    return [needle for needle in needles if needle in found]


def processes_mentioning(text: str) -> list[str]:
    """Return the command lines of running processes that contain ``text``."""
    matches = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command:
            matches.append(f"{entry.name}: {command.strip()}")
    return matches
