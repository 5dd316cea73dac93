"""Stageline: build, reuse and push every stage of a multi-stage Docker image.

The library knows nothing of invoke or of the command line: ``stageline.cli`` (the
``stageline`` command) and ``stageline.tasks`` (an invoke collection) are thin front ends
over ``stageline.commands``.
"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """Return ``__version__``, read from the installed package's metadata."""
    if name == "__version__":
        from stageline.version import installed_version

        return installed_version()
    raise AttributeError(f"module 'stageline' has no attribute {name!r}")
