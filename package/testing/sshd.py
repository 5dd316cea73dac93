"""A real OpenSSH server on loopback, so that ``DOCKER_HOST=ssh://...`` reaches the local engine.

Deploy tests use it as a GitLab job uses a server: the docker CLI runs ``ssh`` and, on
the far side, ``docker system dial-stdio``. The server has its own config, host key and
authorized key (a key pair made for the run), on a free loopback port, and stops at the
end of the session.

The client side: OpenSSH reads ``~/.ssh`` from the user's passwd entry, not from
``$HOME``, so a temporary HOME would not reach it. The client gets a folder with an
``ssh`` wrapper (``ssh -F <config>``) to put first on PATH; the config names the key and
a known_hosts file made from the server's host key, with BatchMode and strict host key
checking, so nothing asks and the machine's own ``~/.ssh`` is left alone.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
INSTALL_HINT = "apt-get install -y openssh-server (.ci/install-packages)"


@dataclass(frozen=True)
class SSHServer:
    """A running sshd, and the client folder whose ``bin`` makes ``ssh`` reach it."""

    port: int
    process: subprocess.Popen[bytes]
    folder: Path
    user: str = "root"

    @property
    def docker_host(self) -> str:
        """Return the DOCKER_HOST that reaches the local engine through this server."""
        return f"ssh://{self.user}@127.0.0.1:{self.port}"

    def client_environ(self, base: Mapping[str, str]) -> dict[str, str]:
        """Return ``base`` with DOCKER_HOST set to this server and its ``ssh`` first on PATH."""
        path = f"{self.folder / 'bin'}{os.pathsep}{base.get('PATH', os.defpath)}"
        return {**base, "DOCKER_HOST": self.docker_host, "PATH": path}


def sshd_missing_reason() -> str | None:
    """Return why no sshd can run here (None when it can)."""
    if not Path(SSHD).is_file() or shutil.which("ssh-keygen") is None:
        return f"{SSHD} or ssh-keygen is missing"
    return None


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "stageline-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


def _server_config(folder: Path, port: int) -> Path:
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\n"
        f"HostKey {folder / 'host_key'}\nPidFile {folder / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "MaxStartups 50:30:100\nLogLevel ERROR\n"
    )
    return config


def _client_folder(folder: Path, port: int) -> None:
    host_key = (folder / "host_key.pub").read_text().split()
    (folder / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    (folder / "ssh_config").write_text(
        "Host 127.0.0.1\n"
        f"  IdentityFile {folder / 'client_key'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {folder / 'known_hosts'}\n  GlobalKnownHostsFile /dev/null\n"
        "  StrictHostKeyChecking yes\n  BatchMode yes\n"
    )
    wrapper = folder / "bin" / "ssh"
    wrapper.parent.mkdir()
    ssh = shutil.which("ssh") or "/usr/bin/ssh"
    wrapper.write_text(f'#!/bin/sh\nexec {ssh} -F {folder / "ssh_config"} "$@"\n')
    wrapper.chmod(0o755)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited ({process.returncode}) before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"sshd did not listen on 127.0.0.1:{port} within {timeout:g}s")


def start_sshd(folder: Path, port: int) -> SSHServer:
    """Start sshd in the foreground (``-D``) on ``port``, configured from ``folder``."""
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege separation dir
    for key in ("host_key", "client_key"):
        _keygen(folder / key)
    (folder / "authorized_keys").write_text((folder / "client_key.pub").read_text())
    config = _server_config(folder, port)
    _client_folder(folder, port)
    command = [SSHD, "-D", "-f", str(config), "-E", str(folder / "sshd.log")]
    with (folder / "sshd.out").open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(port, process)
    except RuntimeError:
        stop_sshd(process)
        raise
    return SSHServer(port=port, process=process, folder=folder)


def stop_sshd(process: subprocess.Popen[bytes]) -> None:
    """Stop the sshd this harness started (and only it)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
