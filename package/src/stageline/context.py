"""A reproducible build context: the tar the engine receives.

The docker SDK's own context tar keeps each file's uid/gid and mode, and GitLab
runners check out with umask 0000 as another user: both change ``COPY`` cache keys
between a laptop and a runner, so the cache silently misses. This tar honours
``.dockerignore`` (with the SDK's own matcher) and normalises what differs between
checkouts: owner 0:0, no user/group names, directories 0755, files 0644 or 0755
(executable if any execute bit is set), one fixed mtime, sorted entries.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from docker.utils.build import exclude_paths

from stageline.errors import DockerfileError

# 2000-01-01T00:00:00Z: a fixed time after 1980 so zip-based tools inside builds work.
FIXED_MTIME = 946684800
SPOOL_BYTES = 64 * 1024 * 1024


@dataclass
class BuildContext:
    """A context tar ready to send, with what identifies it."""

    fileobj: IO[bytes]
    sha256: str
    size: int
    files: int
    dockerfile: str

    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def open(self) -> IO[bytes]:
        """Return the tar rewound to its start, ready to be sent again."""
        self.fileobj.seek(0)
        return self.fileobj

    def chunks(self, size: int = 1024 * 1024) -> Iterator[bytes]:
        """Yield the tar from its start; several threads may each read it at once."""
        offset = 0
        while True:
            with self.lock:
                self.fileobj.seek(offset)
                chunk = self.fileobj.read(size)
            if not chunk:
                return
            offset += len(chunk)
            yield chunk

    @contextmanager
    def read_tar(self) -> Iterator[tarfile.TarFile]:
        """Yield the tar opened for reading, from its start."""
        with tarfile.open(fileobj=self.open(), mode="r:") as tar:
            yield tar

    def close(self) -> None:
        """Free the tar's storage."""
        self.fileobj.close()


def dockerignore_patterns(root: Path) -> list[str]:
    """Return the patterns of ``root/.dockerignore`` (comments and blanks dropped)."""
    path = root / ".dockerignore"
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def included_paths(root: Path, dockerfile: str = "Dockerfile") -> list[str]:
    """Return the context's paths relative to ``root``, sorted, as the engine will see them."""
    return sorted(exclude_paths(str(root), dockerignore_patterns(root), dockerfile=dockerfile))


def normalised_info(root: Path, relative: str) -> tarfile.TarInfo | None:
    """Return the tar header of one path with owner, mode and time normalised.

    Sockets, fifos and devices return ``None``: a build context cannot carry them.
    """
    full = root / relative
    st = os.lstat(full)
    info = tarfile.TarInfo(relative.replace(os.sep, "/"))
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = FIXED_MTIME
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    elif stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(full)
        info.mode = 0o777
    elif stat.S_ISREG(st.st_mode):
        info.type = tarfile.REGTYPE
        info.size = st.st_size
        info.mode = 0o755 if st.st_mode & 0o111 else 0o644
    else:
        return None
    return info


def add_entry(tar: tarfile.TarFile, root: Path, info: tarfile.TarInfo, text: bytes | None) -> None:
    """Add one normalised entry; ``text`` replaces a regular file's content."""
    if not info.isreg():
        tar.addfile(info)
    elif text is not None:
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    else:
        with (root / info.name).open("rb") as handle:
            tar.addfile(info, handle)


def make_context(root: Path, dockerfile: Path, dockerfile_text: str | None = None) -> BuildContext:
    """Return the normalised context tar of ``root`` for ``dockerfile``.

    ``dockerfile_text``, when given, is what the tar holds as the Dockerfile (the
    engine's version of it, see :mod:`stageline.dockerfile.rewrite`).
    """
    root = root.resolve()
    dockerfile = dockerfile if dockerfile.is_absolute() else root / dockerfile
    try:
        relative_dockerfile = str(dockerfile.resolve().relative_to(root))
    except ValueError:
        raise DockerfileError(
            f"{dockerfile} is outside the build context {root}; move it into the project."
        ) from None
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (owned by BuildContext)
    count = 0
    with tarfile.open(fileobj=spool, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for relative in included_paths(root, relative_dockerfile):
            info = normalised_info(root, relative)
            if info is None:
                continue
            count += 1
            own = dockerfile_text if relative == relative_dockerfile else None
            add_entry(tar, root, info, None if own is None else own.encode())
    size = spool.tell()
    spool.seek(0)
    digest = hashlib.sha256()
    for block in iter(lambda: spool.read(1024 * 1024), b""):
        digest.update(block)
    spool.seek(0)
    return BuildContext(
        fileobj=spool,
        sha256=digest.hexdigest(),
        size=size,
        files=count,
        dockerfile=relative_dockerfile,
    )
