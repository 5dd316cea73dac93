"""The arm64 readiness checks, on recorded handler files and index documents (no daemon)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.emulation import arm64_mirror, handler_problem, index_platforms, split_image

# /proc/sys/fs/binfmt_misc/qemu-aarch64 as .ci/start-services leaves it.
REGISTERED = """\
enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: PF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
"""


def test_a_handler_enabled_with_the_fix_binary_flag_is_ready(tmp_path: Path) -> None:
    handler = tmp_path / "qemu-aarch64"
    handler.write_text(REGISTERED)
    assert handler_problem(handler) is None


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (REGISTERED.replace("flags: PF", "flags: P"), "enabled with flags 'P'"),
        (REGISTERED.replace("enabled", "disabled"), "disabled with flags 'PF'"),
    ],
)
def test_a_handler_without_the_flag_or_disabled_names_the_fix(
    tmp_path: Path, text: str, said: str
) -> None:
    handler = tmp_path / "qemu-aarch64"
    handler.write_text(text)
    problem = handler_problem(handler)
    assert problem is not None
    assert said in problem
    assert problem.endswith("run .ci/install-packages and .ci/start-services")


def test_a_missing_handler_names_the_fix(tmp_path: Path) -> None:
    problem = handler_problem(tmp_path / "qemu-aarch64")
    assert problem is not None
    assert "not registered" in problem
    assert "\n" not in problem


def test_an_index_lists_each_platform_s_digest() -> None:
    document = {
        "manifests": [
            {"digest": "sha256:a", "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": "sha256:b", "platform": {"os": "linux", "architecture": "arm64"}},
        ]
    }
    assert index_platforms(document) == {"linux/amd64": "sha256:a", "linux/arm64": "sha256:b"}
    assert index_platforms({"layers": []}) == {}  # one image, not an index


def test_an_image_name_splits_at_the_registry_and_the_tag() -> None:
    assert split_image("localhost:5000/mirror/python:3.13") == (
        "localhost:5000",
        "mirror/python",
        "3.13",
    )


def test_without_python_image_the_mirror_check_names_the_fix() -> None:
    problem = arm64_mirror({})
    assert problem == "PYTHON_IMAGE is not set: run .ci/build-base-images, then `source .ci/env`"
