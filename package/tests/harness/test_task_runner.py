"""A task a test interrupts starts with SIGINT at its default disposition.

A test run started in the background by a script inherits SIGINT ignored; the task must
still see the Ctrl-C a test sends (see environment.md, "Signals in background jobs").
"""

from __future__ import annotations

import signal
from pathlib import Path

from testing.task_runner import start_task

PROBE = """\
import signal
handler = signal.getsignal(signal.SIGINT)
print("default" if handler is signal.default_int_handler else repr(handler))
"""


def test_a_started_task_gets_the_default_sigint_even_when_this_process_ignores_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "sigint_probe.py").write_text(PROBE)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        process = start_task(tmp_path, env={}, module="sigint_probe")
    finally:
        signal.signal(signal.SIGINT, previous)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert stdout.strip() == "default"
