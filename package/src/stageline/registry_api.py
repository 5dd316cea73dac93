"""The registry's own HTTP API: manifests and small blobs, without the Docker engine.

Reading a stage image's content key and writing a tag by copying a manifest inside
the registry both need a few requests of the distribution API, never a layer. The
client speaks what GitLab's registry speaks:

* **token auth**: a 401 with ``WWW-Authenticate: Bearer realm=...,service=...`` sends
  it to the realm for a token (basic credentials, or anonymous), one per scope, reused
  until the registry refuses it;
* **basic auth**: a 401 with ``WWW-Authenticate: Basic`` is answered with the
  credentials;
* **retries**: 429, 5xx and broken connections are retried with exponential backoff.

A manifest is kept as its exact bytes and media type, so that a copy keeps its digest.
Plain HTTP is used for loopback registries (as the engine allows them), HTTPS otherwise.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from stageline.errors import RegistryAuthError, RegistryError
from stageline.registry_errors import RegistryFailure, from_answer

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = MANIFEST_TYPES[:2]
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
# The actions a token must grant per method: distribution's token auth wants ``delete``
# for DELETE (a token with pull,push only gets 401 insufficient_scope).
SCOPE_ACTIONS = {"GET": "pull", "HEAD": "pull", "DELETE": "pull,push,delete"}
TAGS_PAGE = 1000


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as the registry holds it."""

    content: bytes
    media_type: str
    digest: str

    @property
    def document(self) -> dict[str, Any]:
        """Return the manifest parsed."""
        parsed = json.loads(self.content)
        return parsed if isinstance(parsed, dict) else {}

    @property
    def is_index(self) -> bool:
        """Return whether this is an image index (a manifest list)."""
        return self.media_type in INDEX_TYPES


def content_digest(content: bytes) -> str:
    """Return the ``sha256:...`` digest of ``content``."""
    return "sha256:" + hashlib.sha256(content).hexdigest()


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Return the scheme (lower case) and parameters of a ``WWW-Authenticate`` header."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(CHALLENGE_RE.findall(rest))


def base_url(host: str) -> str:
    """Return the API root of registry ``host``: HTTP on loopback, HTTPS elsewhere."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    scheme = "http" if name in LOOPBACK_HOSTS or name.startswith("127.") else "https"
    return f"{scheme}://{host}/v2/"


@dataclass
class RegistryAPI:
    """A client of one registry host, with its credentials (None: anonymous)."""

    host: str
    credentials: tuple[str, str] | None = None
    retries: int = 4  # for 429 and 5xx answers
    connect_retries: int = 1  # for a registry that does not answer at all
    delay: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    timeout: float = 30.0
    session: requests.Session = field(default_factory=requests.Session)
    tokens: dict[str, str] = field(default_factory=dict, repr=False)
    basic: bool = False  # the registry asked for basic credentials

    def __post_init__(self) -> None:
        self.session.trust_env = False  # no proxy or CA bundle from the job's environment
        self.session.verify = True

    def request(self, method: str, repository: str, path: str, **kwargs: Any) -> requests.Response:
        """Send ``method /v2/<repository>/<path>``, authenticating and retrying as needed."""
        actions = SCOPE_ACTIONS.get(method, "pull,push")
        scope = f"repository:{repository}:{actions}"
        url = f"{base_url(self.host)}{repository}/{path}"
        response = self._send(method, url, scope, **kwargs)
        if response.status_code == 401:
            self._authenticate(response, scope)
            response = self._send(method, url, scope, **kwargs)
        if response.status_code in (401, 403):
            who = f"user {self.credentials[0]!r}" if self.credentials else "anonymous access"
            raise RegistryAuthError(
                f"registry {self.host} refused {method} {repository}/{path} for {who} "
                f"({response.status_code}); check CI_REGISTRY_USER/CI_REGISTRY_PASSWORD."
            )
        return response

    def _send(self, method: str, url: str, scope: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        for attempt in range(self.retries + 1):
            token = self.tokens.get(scope)
            if token:
                headers["Authorization"] = f"Bearer {token}"
            auth = self.credentials if self.basic and not token else None
            try:
                response = self.session.request(
                    method, url, headers=headers, auth=auth, timeout=self.timeout, **kwargs
                )
            except requests.exceptions.RequestException as exc:
                if attempt >= min(self.retries, self.connect_retries):
                    raise RegistryError(
                        f"registry {self.host} did not answer ({type(exc).__name__}); "
                        "check that it is up and reachable."
                    ) from None
            else:
                if response.status_code not in RETRIED_STATUSES or attempt == self.retries:
                    return response
            self.sleep(self.delay * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _authenticate(self, response: requests.Response, scope: str) -> None:
        scheme, params = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            self.basic = True
            return
        if scheme != "bearer" or "realm" not in params:
            raise RegistryError(
                f"registry {self.host} asked for an unknown authentication "
                f"({scheme or 'none'}); Stageline speaks Basic and Bearer token auth."
            )
        query = {"scope": scope, **({"service": params["service"]} if "service" in params else {})}
        auth = self.credentials
        try:
            answer = self.session.get(
                params["realm"], params=query, auth=auth, timeout=self.timeout
            )
        except requests.exceptions.RequestException as exc:
            raise RegistryError(
                f"the token service of registry {self.host} did not answer ({type(exc).__name__})."
            ) from None
        if answer.status_code in (401, 403):
            who = f"user {auth[0]!r}" if auth else "anonymous access"
            raise RegistryAuthError(
                f"registry {self.host} refused a token to {who}: check CI_REGISTRY_USER and "
                "CI_REGISTRY_PASSWORD (or CI_JOB_TOKEN)."
            )
        try:
            body = answer.json()
            self.tokens[scope] = str(body.get("token") or body["access_token"])
        except (ValueError, KeyError, AttributeError):
            raise RegistryError(
                f"the token service of registry {self.host} answered {answer.status_code} "
                "without a token."
            ) from None

    def _read_manifest(
        self, method: str, repository: str, reference: str
    ) -> requests.Response | None:
        """Send ``method`` for a manifest in every type Stageline reads; None if absent."""
        accept = {"Accept": ",".join(MANIFEST_TYPES)}
        response = self.request(method, repository, f"manifests/{reference}", headers=accept)
        if response.status_code == 404:
            return None
        self._check(response, f"read manifest {repository}:{reference}")
        return response

    def get_manifest(self, repository: str, reference: str) -> Manifest | None:
        """Return the manifest of ``repository:reference`` (tag or digest), or None if absent."""
        response = self._read_manifest("GET", repository, reference)
        if response is None:
            return None
        digest = content_digest(response.content)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return Manifest(response.content, media_type or MANIFEST_TYPES[-1], digest)

    def head_manifest(self, repository: str, reference: str) -> str | None:
        """Return the digest of ``repository:reference``, or None if absent."""
        response = self._read_manifest("HEAD", repository, reference)
        if response is None:
            return None
        digest = response.headers.get("Docker-Content-Digest")
        if digest:
            return digest
        manifest = self.get_manifest(repository, reference)
        return manifest.digest if manifest else None

    def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> str:
        """Write ``manifest`` under ``tag``, byte for byte; return the digest the registry gives."""
        response = self.request(
            "PUT",
            repository,
            f"manifests/{tag}",
            data=manifest.content,
            headers={"Content-Type": manifest.media_type},
        )
        self._check(response, f"write tag {repository}:{tag}")
        return response.headers.get("Docker-Content-Digest") or manifest.digest

    def get_json_blob(self, repository: str, digest: str) -> dict[str, Any]:
        """Return a small JSON blob (an image config) of ``repository``."""
        response = self.request("GET", repository, f"blobs/{digest}")
        self._check(response, f"read blob {digest[:19]} of {repository}")
        if content_digest(response.content) != digest:
            raise RegistryError(f"registry {self.host} sent blob {digest[:19]} with other content.")
        parsed = json.loads(response.content)
        return parsed if isinstance(parsed, dict) else {}

    def list_tags(self, repository: str) -> list[str]:
        """Return every tag of ``repository`` (none if it does not exist), page by page.

        The registry names the next page in a ``Link: <...>; rel="next"`` header.
        """
        tags: list[str] = []
        path: str | None = f"tags/list?n={TAGS_PAGE}"
        while path is not None:
            response = self.request("GET", repository, path)
            if response.status_code == 404:
                return tags
            self._check(response, f"list the tags of {repository}")
            tags.extend(str(tag) for tag in response.json().get("tags") or [])
            following = response.links.get("next", {}).get("url")
            path = f"tags/list?{urlsplit(following).query}" if following else None
        return tags

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete manifest ``digest`` (and so every tag on it); False if it was gone already."""
        try:
            response = self.request("DELETE", repository, f"manifests/{digest}")
        except RegistryAuthError:
            raise RegistryAuthError(
                f"registry {self.host} refused to delete from {repository} for "
                f"{self._who()}: the token needs the delete scope; run prune with a token "
                "whose user may delete images (see docs/prune.md)."
            ) from None
        if response.status_code == 404:
            return False
        if response.status_code == 405:
            raise RegistryError(
                f"registry {self.host} does not allow deleting (405 UNSUPPORTED): enable it "
                "(distribution: storage.delete.enabled: true), or run prune without --apply."
            )
        self._check(response, f"delete manifest {digest[:19]} of {repository}")
        return True

    def _who(self) -> str:
        return f"user {self.credentials[0]!r}" if self.credentials else "anonymous access"

    def _check(self, response: requests.Response, what: str) -> None:
        if response.status_code >= 400:
            failure = answer_failure(response)
            raise RegistryError(f"registry {self.host} could not {what}: {failure.first_line}")


def answer_failure(response: requests.Response) -> RegistryFailure:
    """Return the failure a registry answer reports: its status and its JSON error body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    return from_answer(response.status_code, body, response.text)
