"""CI runners whose Docker cache is empty: a daemon the tests purge, restart and build on.

``EmptyRunner`` stands for a GitLab runner's fresh dind: ``purge`` removes every
container, image, build-cache record and layer origin, and checks with ``ctr`` that its
containerd namespace holds nothing. ``QuickPullRunner`` gives up a failed layer download
at once, so a registry stopped mid-pull surfaces in seconds. ``task_env`` is what makes
the invoke tasks build on a runner.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Mapping
from typing import Any

import docker
from docker.errors import APIError

from testing.daemons import Daemon


class EmptyRunner(Daemon):
    """A CI runner whose Docker cache is empty: purge() removes every container and image."""

    def env(self) -> dict[str, str]:
        """Return the settings that make the tasks build on this daemon."""
        return {"DOCKER_HOST": self.docker_host, "STAGELINE_BUILD_NETWORK": "host"}

    def restart(self) -> None:
        """Stop the daemon and start it again on the same bridge: a runner host's reboot."""
        self.halt()
        self.start()

    def containers(self) -> list[dict[str, Any]]:
        """Return every container on the daemon, running or not."""
        containers: list[dict[str, Any]] = self.api().containers(all=True)
        return containers

    def read_file(self, image: str, path: str) -> str:
        """Return the text of ``path`` in ``image``, read by running a container of it."""
        output: bytes = self.client().containers.run(
            image, ["cat", path], remove=True, network_mode="none"
        )
        return output.decode()

    def purge(self) -> None:
        """Empty every cache: containers, images, BuildKit's build cache and layer origins.

        Images are the classic builder's cache; BuildKit keeps its own beside them; and
        the engine remembers which repository each layer came from (a later push would
        mount instead of upload). With the containerd store all three live in the
        daemon's containerd namespace (layer origins as labels on content blobs): it
        must end with no image, blob, snapshot or lease. A fresh CI runner has none.
        """
        client = self.client()
        self._remove_all(client)
        client.api.prune_builds(all=True)
        if self.snapshotter:
            self._empty_containerd()
            return
        distribution = self.root / "data" / "image" / "overlay2" / "distribution"
        for kind in ("diffid-by-digest", "v2metadata-by-diffid"):
            shutil.rmtree(distribution / kind, ignore_errors=True)

    def ctr(self, namespace: str, *args: str) -> list[str]:
        """Return the output lines of ``ctr ARGS`` in ``namespace`` of this daemon's containerd."""
        command = ["ctr", "--address", str(self.containerd_address), "--namespace", namespace]
        result = subprocess.run([*command, *args], capture_output=True, text=True, check=True)
        return [line.strip() for line in result.stdout.splitlines() if line.strip()]

    def containerd_leftovers(self) -> dict[str, list[str]]:
        """Return what this daemon's containerd namespaces still hold, by kind."""
        left: dict[str, list[str]] = {}
        for namespace in self.ctr("default", "namespaces", "list", "--quiet"):
            if namespace != self.namespace and not namespace.startswith(f"{self.namespace}_"):
                continue  # another daemon's, on a shared system containerd
            for kind in ("leases", "images", "content"):
                left.update({f"{namespace} {kind}": self.ctr(namespace, kind, "ls", "--quiet")})
            rows = self.ctr(namespace, "snapshots", "ls")[1:]  # KEY PARENT KIND, a header first
            left[f"{namespace} snapshots"] = [row.split()[0] for row in rows]
        return {kind: items for kind, items in left.items() if items}

    def _empty_containerd(self) -> None:
        """Delete what removing every image and pruning left in containerd, then check."""
        for where, items in self.containerd_leftovers().items():
            namespace, kind = where.split()
            if kind == "snapshots":
                continue  # they go with the leases and images that hold them
            verb = "delete" if kind == "leases" else "rm"
            self.ctr(namespace, kind, verb, *items)
        for _ in range(20):  # containerd collects garbage asynchronously
            left = self.containerd_leftovers()
            if not left:
                return
            time.sleep(0.25)
        raise AssertionError(f"purge left containerd content behind: {left}")

    @staticmethod
    def _remove_all(client: docker.DockerClient) -> None:
        for container in client.containers.list(all=True):
            container.remove(force=True)
        # Children before parents: repeat until nothing is left (or nothing moves).
        for _ in range(20):
            images = client.images.list(all=True)
            if not images:
                return
            for image in images:
                try:
                    client.images.remove(image.id, force=True)
                except APIError as exc:
                    if exc.status_code not in (404, 409):
                        raise
        remaining = client.images.list(all=True)
        assert remaining == [], f"purge left images behind: {remaining}"

    def image_ids(self) -> set[str]:
        """Return the IDs of every image on this daemon."""
        return {image.id for image in self.client().images.list(all=True)}


# The daemon retries a failed layer download itself, 5 times over about 50 s, before it
# reports the failure. This runner gives up at once, so a registry that stops during a
# pull surfaces in seconds. (dockerd has no such option for uploads: a push that loses
# its registry mid-layer takes those 50 s, as it does for users.)
QUICK_PULL_FLAGS = ("--max-download-attempts=1",)


class QuickPullRunner(EmptyRunner):
    """An empty runner started with QUICK_PULL_FLAGS."""

    def listen_args(self) -> list[str]:
        """Return the daemon's listen arguments and QUICK_PULL_FLAGS."""
        return [*super().listen_args(), *QUICK_PULL_FLAGS]


def task_env(
    runner: EmptyRunner,
    base_images: Mapping[str, str],
    image: str,
    ref: str = "main",
    sha: str = "cafe0001",
    builder: str = "classic",
    **extra: str,
) -> dict[str, str]:
    """Return the settings of a task run on ``runner`` for ``image`` on branch ``ref``."""
    return {
        **runner.env(),
        **base_images,
        "CI_REGISTRY_IMAGE": image,
        "CI_COMMIT_REF_SLUG": ref,
        "CI_DEFAULT_BRANCH": "main",
        "CI_COMMIT_SHORT_SHA": sha,
        "STAGELINE_BUILDER": builder,
        **extra,
    }
