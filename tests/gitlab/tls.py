"""A Docker daemon behind TLS on loopback, with certificates laid out as dind lays them out.

GitLab's ``docker:*-dind`` service with ``DOCKER_TLS_CERTDIR=/certs`` writes a CA to
``/certs/ca``, the daemon's certificate to ``/certs/server`` and a client certificate to
``/certs/client`` (each directory with ``ca.pem``, ``cert.pem``, ``key.pem``), and listens
on ``tcp://docker:2376``. ``TlsDaemon`` is the same on ``tcp://127.0.0.1:PORT``: its own
data root, exec root, pidfile and bridge, no iptables (builds use the host's network).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import docker
from docker.tls import TLSConfig

from tests.pipeline.services import wait_for


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


class TlsDaemon:
    """A dockerd that accepts only TLS clients with a certificate from its CA."""

    def __init__(self, root: Path, port: int, bridge: str, cidr: str) -> None:
        self.root = root
        self.port = port
        self.bridge = bridge
        self.cidr = cidr
        self.certs = root / "certs"
        self.process: subprocess.Popen[bytes] | None = None

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

    def _client(self) -> docker.APIClient:
        client = docker.APIClient(
            base_url=self.docker_host, tls=self.tls_config(), version="1.41", timeout=30
        )
        client.trust_env = False
        return client

    def _ensure_bridge(self) -> None:
        if subprocess.run(["ip", "link", "show", self.bridge], capture_output=True).returncode:
            subprocess.run(["ip", "link", "add", "name", self.bridge, "type", "bridge"], check=True)
            subprocess.run(["ip", "addr", "add", self.cidr, "dev", self.bridge], check=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)

    def start(self) -> None:
        """Make the certificates, start the daemon and wait until it answers over TLS."""
        self.root.mkdir(parents=True, exist_ok=True)
        make_dind_certs(self.certs)
        self._ensure_bridge()
        server = self.certs / "server"
        log = (self.root / "dockerd.log").open("ab")
        self.process = subprocess.Popen(
            [
                "dockerd",
                "--tlsverify",
                f"--tlscacert={server / 'ca.pem'}",
                f"--tlscert={server / 'cert.pem'}",
                f"--tlskey={server / 'key.pem'}",
                "-H",
                self.docker_host,
                "--data-root",
                str(self.root / "data"),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.root / "docker.pid"),
                f"--bridge={self.bridge}",
                "--iptables=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(lambda: self._client().ping(), 60, f"the TLS daemon at {self.docker_host}")

    def stop(self) -> None:
        """Stop the daemon."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
