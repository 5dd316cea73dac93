"""This project's invoke tasks: `invoke --list`.

The stage tasks (plan, pull-stages, build-stages, push-stages, dev) come from the
stageline package (requirements/build.txt pins it); add the project's own tasks below.
"""

from __future__ import annotations

from pathlib import Path

from stageline.tasks import collection

namespace = collection(Path(__file__).resolve().parent)
