"""Stageline: build, tag, pull and push every stage of a multi-stage Docker image.

The library knows nothing of invoke: ``tasks.py`` parses arguments and calls it.
"""

__version__ = "0.1.0"
