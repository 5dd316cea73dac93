"""CHANGELOG.md records the template's semver releases, newest first, under Unreleased."""

from __future__ import annotations

import re

import pytest

from tests.template.conftest import REPO_ROOT, released_versions

pytestmark = pytest.mark.template

CHANGELOG = (REPO_ROOT / "CHANGELOG.md").read_text()


def test_versions_are_semver_newest_first_below_unreleased() -> None:
    versions = released_versions(CHANGELOG)
    assert versions, "no released version: '## X.Y.Z - YYYY-MM-DD' headings"
    assert versions == sorted(set(versions), reverse=True), versions
    headings = re.findall(r"^## (.+)$", CHANGELOG, re.MULTILINE)
    assert headings[0] == "Unreleased", "changes land under '## Unreleased' first"
    assert len(headings) == len(versions) + 1, f"a heading is not '## X.Y.Z - date': {headings}"


def test_sections_use_keep_a_changelog_names() -> None:
    allowed = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security", "Upgrading"}
    sections = set(re.findall(r"^### (.+)$", CHANGELOG, re.MULTILINE))
    assert sections <= allowed, sections - allowed
