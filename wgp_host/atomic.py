"""Atomic file writes: write a temporary file in the target's folder, fsync, rename."""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable

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
    from .liveness import process_alive  # psutil: kept off `wgp --help`, which writes its command cache here

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


#: What a write failing for want of room reports: a full disk, a quota, a file-size limit.
NO_ROOM_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
#: Bytes :func:`write_problem` writes: more than one filesystem block, far less than any output.
PROBE_BYTES = 1 << 16


def write_problem(folder: Path) -> OSError | None:
    """Why nothing can be written in ``folder`` now (a full disk, a quota, a read-only
    filesystem, no permission), or None when a small probe file writes and syncs.

    Libraries that write media (libsndfile, FFmpeg) often lose the OS error on the
    way up ("System error."); asking the filesystem again tells the user what to fix.
    Call it before deleting what the failed write left: that file may hold the last
    free blocks.
    """
    try:
        probe = temp_path_for(Path(folder) / "probe")
    except OSError as exc:
        return exc
    try:
        with open(probe, "wb") as fh:
            fh.write(b"\0" * PROBE_BYTES)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        return exc
    finally:
        probe.unlink(missing_ok=True)
    return None


def no_room_text(exc: OSError) -> str:
    """``exc`` (from :func:`write_problem`) as the cause and the user's fix, e.g.
    ``"No space left on device: free space there"``."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EFBIG:
        return f"{reason} (a file-size limit, see ulimit -f): raise the limit"
    if exc.errno in NO_ROOM_ERRNOS:
        return f"{reason}: free space there"
    return f"{reason}: make it writable"
