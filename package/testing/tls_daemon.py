"""A Docker daemon behind TLS on loopback, with certificates laid out as dind lays them out.

GitLab's ``docker:*-dind`` service with ``DOCKER_TLS_CERTDIR=/certs`` writes a CA to
``/certs/ca``, the daemon's certificate to ``/certs/server`` and a client certificate to
``/certs/client`` (each directory with ``ca.pem``, ``cert.pem``, ``key.pem``), and listens
on ``tcp://docker:2376``. ``TlsDaemon`` is the same on ``tcp://127.0.0.1:PORT``: its own
data root, exec root, pidfile and bridge, no iptables (builds use the host's network).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from docker.tls import TLSConfig

from testing.daemons import Daemon
from testing.network import Bridge


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _signed(certs: Path, name: str, subject: str, extensions: str) -> None:
    """Write ``name/{key,cert,ca}.pem``: a key and a certificate signed by ``ca/``."""
    folder = certs / name
    folder.mkdir(parents=True)
    (folder / "openssl.cnf").write_text(f"[x509_exts]\n{extensions}\n")
    _openssl("genrsa", "-out", "key.pem", "2048", cwd=folder)
    _openssl("req", "-new", "-key", "key.pem", "-subj", subject, "-out", "csr.pem", cwd=folder)
    _openssl(
        "x509",
        "-req",
        "-in",
        "csr.pem",
        "-CA",
        str(certs / "ca" / "cert.pem"),
        "-CAkey",
        str(certs / "ca" / "key.pem"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "openssl.cnf",
        "-extensions",
        "x509_exts",
        "-out",
        "cert.pem",
        cwd=folder,
    )
    shutil.copy(certs / "ca" / "cert.pem", folder / "ca.pem")


def make_dind_certs(certs: Path) -> Path:
    """Write a CA, a server and a client certificate under ``certs`` as dind does."""
    ca = certs / "ca"
    ca.mkdir(parents=True)
    _openssl("genrsa", "-out", "key.pem", "2048", cwd=ca)
    _openssl(
        "req",
        "-new",
        "-x509",
        "-key",
        "key.pem",
        "-days",
        "2",
        "-subj",
        "/CN=stageline test dind CA",
        "-out",
        "cert.pem",
        cwd=ca,
    )
    _signed(
        certs,
        "server",
        "/CN=docker:dind server",
        "subjectAltName = DNS:docker, DNS:localhost, IP:127.0.0.1\nextendedKeyUsage = serverAuth",
    )
    _signed(certs, "client", "/CN=docker:dind client", "extendedKeyUsage = clientAuth")
    return certs


class TlsDaemon(Daemon):
    """A dockerd that accepts only TLS clients with a certificate from its CA."""

    def __init__(self, root: Path, port: int, bridge: Bridge | None = None) -> None:
        super().__init__(root, bridge)
        self.port = port
        self.certs = root / "certs"

    @property
    def docker_host(self) -> str:
        """Return the DOCKER_HOST value that reaches this daemon."""
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def client_certs(self) -> Path:
        """Return the DOCKER_CERT_PATH of a client: ca.pem, cert.pem, key.pem."""
        return self.certs / "client"

    def tls_config(self) -> TLSConfig:
        """Return the TLS settings DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH amount to."""
        return TLSConfig(
            client_cert=(
                str(self.client_certs / "cert.pem"),
                str(self.client_certs / "key.pem"),
            ),
            ca_cert=str(self.client_certs / "ca.pem"),
            verify=True,
        )

    def listen_args(self) -> list[str]:
        """Return the arguments that make dockerd listen on TLS only, as dind does."""
        server = self.certs / "server"
        return [
            "--tlsverify",
            f"--tlscacert={server / 'ca.pem'}",
            f"--tlscert={server / 'cert.pem'}",
            f"--tlskey={server / 'key.pem'}",
            "-H",
            self.docker_host,
        ]

    def client_kwargs(self) -> dict[str, Any]:
        """Return the docker SDK client arguments: the TCP address and the client TLS."""
        return {"base_url": self.docker_host, "tls": self.tls_config()}

    def start(self) -> None:
        """Make the certificates, then start the daemon and wait until it answers over TLS."""
        self.root.mkdir(parents=True, exist_ok=True)
        make_dind_certs(self.certs)
        super().start()
