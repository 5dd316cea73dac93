"""Reuse by content key: which tags a ref reads, whose credentials, which key an image has.

The registry documents are the recorded build-node stage (see test_registry_http.py):
an index of an amd64 image and its attestation; the image's config carries the key.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from stageline.console import Output
from stageline.content_key import KEY_LABEL
from stageline.context import make_context
from stageline.dockerfile import parse_dockerfile
from stageline.errors import RegistryError
from stageline.plan import Request, make_plan
from stageline.registry_api import Manifest, content_digest
from stageline.reuse import (
    Found,
    Registries,
    Reuse,
    base_pins,
    candidate_tags,
    credentials_for,
    find_image,
    find_reusable,
    image_key,
    image_size,
    key_tag,
    reuse_rule,
    write_tags,
)
from stageline.settings import Secret, Settings
from tests.stageline.replay import (
    IMAGE_TYPE,
    INDEX_TYPE,
    FakeRegistry,
    build_node_registry,
    recorded_manifest,
)

HOST = "registry.example.com"
IMAGE = f"{HOST}/group/app"
REPOSITORY = "group/app"
# The key label of the recorded stage, and the key tag the pipeline pushed it under.
KEY = "sha256:c47244810f2610c1903e1940efcb58b2e72afd33aa50b6e8e198c23ebadf8c18"
RECORDED_KEY_TAG = "build-node--key.c47244810f2610c1903e1940efcb58b2e72afd33"


def settings(ref: str = "main", **overrides: object) -> Settings:
    base = Settings(root=Path("."), image=IMAGE, ref_slug=ref, default_branch="main")
    return replace(base, **overrides)  # type: ignore[arg-type]


def registries(registry: FakeRegistry, chosen: Settings) -> Registries:
    made = Registries(chosen)
    made.clients[HOST] = registry  # type: ignore[assignment]
    return made


def test_the_key_tag_is_the_stage_and_the_key_s_first_40_hex_digits() -> None:
    assert key_tag("build-node", KEY) == RECORDED_KEY_TAG


def test_a_branch_reads_its_own_tag_then_the_default_branch_s() -> None:
    assert candidate_tags(settings("feature-x"), "build-node", KEY) == [
        "build-node--feature-x",
        "build-node",
    ]
    assert candidate_tags(settings(), "build-node", KEY) == ["build-node"]
    promoted = settings(promote_merged=True)
    assert candidate_tags(promoted, "build-node", KEY) == ["build-node", RECORDED_KEY_TAG]


def test_the_reuse_rule_shows_the_patterns_in_reading_order() -> None:
    assert reuse_rule(settings("feature-x")) == [
        f"{IMAGE}:<stage>--feature-x",
        f"{IMAGE}:<stage>",
    ]
    assert reuse_rule(settings(promote_merged=True)) == [
        f"{IMAGE}:<stage>",
        f"{IMAGE}:<stage>--key.<key>",
    ]


def test_the_key_of_an_index_is_its_amd64_image_s_label() -> None:
    registry = build_node_registry(REPOSITORY, "build-node")
    index = registry.manifests[REPOSITORY, "build-node"]
    assert image_key(registry, REPOSITORY, index) == KEY  # type: ignore[arg-type]


def test_an_image_without_a_config_or_platforms_has_no_key() -> None:
    registry = build_node_registry(REPOSITORY, "build-node")
    index = registry.manifests[REPOSITORY, "build-node"].document
    platforms = [entry for entry in index["manifests"] if "platform" in entry]
    unlabelled = [{**entry, "platform": {}} for entry in platforms]
    for document, media_type in (
        ({"manifests": unlabelled}, INDEX_TYPE),  # no platform to choose
        ({"schemaVersion": 2}, "application/vnd.oci.image.manifest.v1+json"),  # no config
    ):
        manifest = Manifest(json.dumps(document).encode(), media_type, "sha256:x")
        assert image_key(registry, REPOSITORY, manifest) is None  # type: ignore[arg-type]


def test_an_index_of_other_platforms_gives_its_first_image_s_key() -> None:
    registry = build_node_registry(REPOSITORY, "build-node")
    index = registry.manifests[REPOSITORY, "build-node"].document
    arm = [{**index["manifests"][0], "platform": {"os": "linux", "architecture": "arm64"}}]
    manifest = Manifest(json.dumps({"manifests": arm}).encode(), INDEX_TYPE, "sha256:x")
    assert image_key(registry, REPOSITORY, manifest) == KEY  # type: ignore[arg-type]


def docker_config(directory: Path, auths: dict[str, object]) -> None:
    (directory / "config.json").write_text(json.dumps({"auths": auths}), encoding="utf-8")


def test_the_image_registry_gets_ci_credentials_and_others_the_docker_config_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = base64.b64encode(b"hub-user:hub-pass").decode()
    docker_config(tmp_path, {"https://index.docker.io/v1/": {"auth": token}})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    ci = settings(registry=HOST, registry_user="ci", registry_password=Secret("ci-pass"))
    assert credentials_for(ci, HOST) == ("ci", "ci-pass")
    # Registries asks by API host; the config names Docker Hub by its index.
    assert credentials_for(ci, "registry-1.docker.io") == ("hub-user", "hub-pass")
    assert credentials_for(ci, "quay.io") is None
    assert credentials_for(settings(), HOST) is None  # no CI credentials, none in the config


def test_an_unreadable_docker_config_means_anonymous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert credentials_for(settings(), "docker.io") is None


def test_registries_keep_one_client_per_host_with_its_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # empty: no logins
    made = Registries(settings(registry_user="ci", registry_password=Secret("ci-pass")))
    assert made.api(HOST) is made.api(HOST)
    assert made.api(HOST).credentials == ("ci", "ci-pass")  # CI_REGISTRY: the image's host
    assert made.api("docker.io").credentials is None


def test_a_branch_finds_the_default_branch_s_image_with_the_key() -> None:
    made = registries(build_node_registry(REPOSITORY, "build-node"), settings("feature-x"))
    found = find_image(made, made.settings, "build-node", KEY)
    assert found is not None
    assert found.ref == f"{IMAGE}:build-node"
    assert found.manifest.is_index
    assert find_image(made, made.settings, "build-node", "sha256:other") is None


def test_a_found_image_s_size_is_its_platform_image_s_config_and_layers() -> None:
    registry = build_node_registry(REPOSITORY, "build-node")
    made = registries(registry, settings())
    image = recorded_manifest("registry-build-node-manifest.json", IMAGE_TYPE)
    blobs = [image.document["config"], *image.document["layers"]]
    assert image_size(image) == sum(blob["size"] for blob in blobs) == 142_712_743
    under_index = find_image(made, made.settings, "build-node", KEY)
    assert under_index is not None
    assert under_index.manifest.is_index
    assert under_index.size_bytes == image_size(image)  # the amd64 entry's, fetched by digest
    registry.manifests[REPOSITORY, "build-node"] = image  # the image manifest under the tag
    alone = find_image(made, made.settings, "build-node", KEY)
    assert alone is not None
    assert not alone.manifest.is_index
    assert alone.size_bytes == image_size(image)


def test_each_resolved_base_is_pinned_to_the_digest_its_keys_were_made_from() -> None:
    index = recorded_manifest("registry-build-node-index.json", INDEX_TYPE)
    manifests = {
        "localhost:5000/mirror/python:3.13": index,
        "docker.io/library/node:20": index,
        "unresolved:1": None,
        "scratch": None,
        f"{IMAGE}@{index.digest}": index,  # already pinned
    }
    assert base_pins(manifests) == {
        "localhost:5000/mirror/python:3.13": f"localhost:5000/mirror/python@{index.digest}",
        "node:20": f"docker.io/library/node@{index.digest}",
    }


def test_tags_are_copied_inside_the_registry_unless_they_have_the_image(tmp_path: Path) -> None:
    registry = build_node_registry(REPOSITORY, "build-node")
    index = registry.manifests[REPOSITORY, "build-node"]
    shown = io.StringIO()
    found = Found(f"{IMAGE}:build-node", index)
    tags = [f"{IMAGE}:build-node", f"{IMAGE}:build-node--feature-x"]
    written = write_tags(registries(registry, settings()), found, tags, Output(shown, True))
    assert written == [f"{IMAGE}:build-node--feature-x"]
    assert registry.written == [(REPOSITORY, "build-node--feature-x", index)]
    assert shown.getvalue().splitlines() == [
        f"  {IMAGE}:build-node: already {index.digest[:19]}",
        f"  {IMAGE}:build-node--feature-x: copied from {IMAGE}:build-node "
        f"({index.digest[:19]}, no upload)",
    ]


DOCKERFILE = f"""\
FROM {HOST}/mirror/python:3.13 AS base
RUN echo base
FROM base AS production
COPY f /f
"""


def compare(registry: FakeRegistry, root: Path, image: str = IMAGE) -> tuple[Reuse, str]:
    """Return find_reusable's answer for DOCKERFILE in ``root``, and its warnings."""
    (root / "Dockerfile").write_text(DOCKERFILE, encoding="utf-8")
    (root / "f").write_text("f\n", encoding="utf-8")
    made = registries(registry, settings(root=root, image=image))
    plan = make_plan(made.settings, parse_dockerfile(DOCKERFILE), Request(no_cache=False))
    context = make_context(root, root / "Dockerfile", plan.dockerfile_text)
    errors = io.StringIO()
    output = Output(io.StringIO(), True)
    output.errors = Console(file=errors, soft_wrap=True)
    try:
        return find_reusable(made, plan, context, output), errors.getvalue()
    finally:
        context.close()


def labelled(key: str) -> FakeRegistry:
    """Return a registry with the base image and an image labelled with ``key``."""
    config = {"config": {"Labels": {KEY_LABEL: key}}}
    image = json.dumps({"config": {"digest": "sha256:config"}}).encode()
    manifest = Manifest(image, IMAGE_TYPE, content_digest(image))
    base = recorded_manifest("registry-build-node-manifest.json", IMAGE_TYPE)
    return FakeRegistry(
        manifests={("mirror/python", "3.13"): base, (REPOSITORY, "production"): manifest},
        configs={"sha256:config": config},
    )


def test_a_stage_whose_key_the_registry_has_is_reused(tmp_path: Path) -> None:
    keys = compare(labelled("sha256:none"), tmp_path)[0].keys
    assert set(keys) == {"base", "production"}
    assert all(key and key.startswith("sha256:") for key in keys.values())
    registry = labelled(str(keys["production"]))
    reuse, warnings = compare(registry, tmp_path)
    assert reuse.keys == keys
    assert list(reuse.found) == ["production"]
    assert reuse.found["production"].ref == f"{IMAGE}:production"
    assert warnings == ""


class Unreachable(FakeRegistry):
    """Answers for the base image (read first), then stops answering."""

    def get_manifest(self, repository: str, reference: str) -> Manifest | None:
        if repository == "mirror/python":
            return super().get_manifest(repository, reference)
        raise RegistryError(f"registry {HOST} did not answer (ConnectTimeout)")


def test_a_registry_that_stops_answering_means_building_every_stage(tmp_path: Path) -> None:
    registry = Unreachable(manifests=labelled("sha256:none").manifests)
    reuse, warnings = compare(registry, tmp_path)
    assert all(reuse.keys.values())  # the base image's digest was read before
    assert reuse.found == {}
    assert warnings == (
        f"warning: cannot compare content keys in the registry (registry {HOST} did not "
        "answer (ConnectTimeout)); building every stage.\n"
    )


class Down(FakeRegistry):
    def get_manifest(self, repository: str, reference: str) -> Manifest | None:
        raise RegistryError(f"registry {HOST} did not answer (ConnectTimeout)")


def test_an_unresolved_base_image_leaves_its_stages_without_a_key(tmp_path: Path) -> None:
    reuse, warnings = compare(Down(), tmp_path)
    assert reuse.keys == {"base": None, "production": None}
    assert warnings == (
        f"warning: cannot resolve base image {HOST}/mirror/python:3.13 (registry {HOST} "
        "did not answer (ConnectTimeout)).\n"
        "warning: stage base will be built: its base is not resolved.\n"
    )


def test_no_registry_in_the_image_name_means_no_keys(tmp_path: Path) -> None:
    reuse, _ = compare(FakeRegistry(), tmp_path, image="stageline")
    assert reuse.keys == {"base": None, "production": None}
