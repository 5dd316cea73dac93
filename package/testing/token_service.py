"""A token issuer for a CNCF registry with ``auth: token``, as GitLab's registry is set up.

The registry answers 401 with ``WWW-Authenticate: Bearer realm=...,service=...,scope=...``;
a client fetches a JWT here with basic credentials. The JWT is signed RS256 with a
self-signed certificate's key (the registry's ``rootcertbundle``) and carries the cert in
its ``x5c`` header, and ``access`` grants every scope asked for (but ``withheld`` actions),
to the right user only.
Every request is recorded, so a test can read which scopes were asked for.
"""

from __future__ import annotations

import base64
import datetime
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ISSUER = "stageline-test-issuer"
SERVICE = "stageline-test-registry"


def self_signed(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """Return a new RSA key and a self-signed certificate for it, valid for a day."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


@dataclass
class TokenService:
    """Issues registry tokens to ``user``/``password`` on 127.0.0.1:``port``."""

    root: Path
    port: int
    user: str
    password: str
    scopes_asked: list[str] = field(default_factory=list)
    refused: int = 0
    withheld: frozenset[str] = frozenset()  # actions never granted (e.g. {"delete"})

    def __post_init__(self) -> None:
        self.key, self.cert = self_signed(ISSUER)
        self.server: ThreadingHTTPServer | None = None

    @property
    def realm(self) -> str:
        """Return the URL the registry sends clients to."""
        return f"http://127.0.0.1:{self.port}/token"

    def write_bundle(self) -> Path:
        """Write the certificate the registry verifies tokens with; return its path."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / "token-cert.pem"
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return path

    def token(self, service: str, scopes: list[str]) -> str:
        """Return a signed JWT granting ``scopes``."""
        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":")
            granted = [a for a in actions.split(",") if a not in self.withheld]
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(datetime.datetime.now(datetime.UTC).timestamp())
        claims = {
            "iss": ISSUER,
            "sub": self.user,
            "aud": service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        der = self.cert.public_bytes(serialization.Encoding.DER)
        headers = {"x5c": [base64.b64encode(der).decode()]}
        return jwt.encode(claims, self.key, algorithm="RS256", headers=headers)

    def authorized(self, header: str | None) -> bool:
        """Return whether a basic ``Authorization`` header holds the right credentials."""
        if not header or not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return (user, password) == (self.user, self.password)

    def start(self) -> None:
        """Serve tokens in a background thread."""
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlparse(self.path).query)
                if not service.authorized(self.headers.get("Authorization")):
                    service.refused += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                scopes = query.get("scope", [])
                service.scopes_asked.extend(scopes)
                token = service.token(query.get("service", [SERVICE])[0], scopes)
                body = f'{{"token": "{token}", "access_token": "{token}"}}'.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                # OAuth2's POST form, which BuildKit tries first: not offered, as by GitLab's
                # /jwt/auth; a 404 sends the client to the GET above.
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def registry_config(self) -> list[str]:
        """Return the ``auth:`` lines of a registry config that trusts this issuer."""
        return [
            "auth:",
            "  token:",
            f"    realm: {self.realm}",
            f"    service: {SERVICE}",
            f"    issuer: {ISSUER}",
            f"    rootcertbundle: {self.write_bundle()}",
        ]
