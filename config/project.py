"""The project's name as people read it: page titles and headings (core.context_processors).

A project started from the template gets its own name here (config/project.py.jinja).
"""

from __future__ import annotations

NAME = "Stageline"
