"""A private Python package index on loopback, behind basic auth, as companies run them.

pypiserver serves a directory holding one wheel made here; listing and downloading
need the user and password, as on GitLab's package registry or a devpi behind a token.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from passlib.apache import HtpasswdFile  # type: ignore[import-untyped]  # no stubs

from testing.checks import free_port


def write_wheel(directory: Path, name: str, version: str, source: str) -> Path:
    """Write a pure-Python wheel of module ``name`` with ``source`` as its code."""
    dist = f"{name}-{version}"
    files = {
        f"{name}.py": source,
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: stageline-tests\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{path},sha256={_digest(text)},{len(text.encode())}" for path, text in files.items()]
    files[f"{dist}.dist-info/RECORD"] = "\n".join([*record, f"{dist}.dist-info/RECORD,,"]) + "\n"
    wheel = directory / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return wheel


def _digest(text: str) -> str:
    raw = hashlib.sha256(text.encode()).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class PrivateIndex:
    """pypiserver on 127.0.0.1 with ``user``/``password`` required to list and download."""

    def __init__(self, root: Path, user: str, password: str) -> None:
        self.root = root
        self.user = user
        self.password = password
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the index URL with the credentials in it, as PIP_INDEX_URL takes it."""
        return f"http://{self.user}:{self.password}@127.0.0.1:{self.port}/simple/"

    def start(self, packages: Path) -> None:
        """Serve ``packages`` and wait until the index answers (with a 401 without auth)."""
        htpasswd = HtpasswdFile(str(self.root / "htpasswd"), new=True)
        htpasswd.set_password(self.user, self.password)
        htpasswd.save()
        command = [sys.executable, "-m", "pypiserver", "run", "-i", "127.0.0.1"]
        command += ["-p", str(self.port), "-a", "download,list", "-P", str(self.root / "htpasswd")]
        command += ["--disable-fallback", str(packages)]
        log = (self.root / "pypiserver.log").open("wb")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while self.anonymous_status() != 401:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"pypiserver did not start; see {self.root / 'pypiserver.log'}")
            time.sleep(0.2)

    def anonymous_status(self) -> int | None:
        """Return the HTTP status of the index page without credentials, None if closed."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/simple/", timeout=2):
                return 200
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return None

    def stop(self) -> None:
        """Stop the index."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
