"""Atomic file writes: write a temporary file in the target's folder, fsync, rename."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable

from .liveness import process_alive

TMP_PREFIX = ".wgp-tmp-"


def temp_path_for(target: Path) -> Path:
    """A fresh temporary path beside ``target`` (same filesystem, so rename is atomic).

    The suffix is kept because encoders pick the container from it.
    """
    # The owner's pid in the name lets crash recovery tell a live writer's file
    # from one a killed process left behind.
    fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", suffix=target.suffix, dir=target.parent)
    try:
        # mkstemp creates 0600; outputs should get the usual umask-derived mode.
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    return Path(name)


_UMASK: int | None = None


def _umask() -> int:
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


def temp_owner_alive(path: Path) -> bool | None:
    """Whether the process that created temporary file ``path`` still runs (None: unknown).

    The name holds the pid only, so a recycled pid reads as alive: the file is
    kept until that process ends too, but never deleted under a live writer.
    """
    rest = Path(path).name[len(TMP_PREFIX):]
    pid_text = rest.split("-", 1)[0]
    if not pid_text.isdigit():
        return None
    return process_alive(int(pid_text))


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(target: Path, write: Callable[[Path], None]) -> None:
    """Let ``write(tmp)`` fill a temporary file, then move it over ``target``."""
    target = Path(target)
    tmp = temp_path_for(target)
    try:
        write(tmp)
        fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(target: Path, text: str) -> None:
    atomic_write(Path(target), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
