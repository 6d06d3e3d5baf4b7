"""Whole JSON lines in a file shared by many processes: append them, or take some out again.

Every change happens under an exclusive ``flock`` of the file and is fsynced before
the lock is released.

- ``append_lines`` writes all lines of one call with one ``write``; when that write
  or the fsync fails (a full disk), the file is cut back to its size before the call,
  so it holds all of the lines or none.  A torn tail left by a writer that was killed
  half-way through a line is cut off before appending, so readers only ever see
  whole lines.
- ``remove_lines`` drops the lines a predicate picks.  When they are the file's tail
  the file is truncated (atomic, and it needs no free space); otherwise the kept
  lines go to a temporary file that is renamed over the manifest.  Appenders check,
  once they hold the lock, that the file they locked is still the one at the path,
  so none of them can write into a file that was just replaced.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

#: The host's prefix for temporary files (``wgp_host.atomic.TMP_PREFIX``): with the pid
#: after it, queue recovery removes a temporary a killed rewrite left in an output folder.
TMP_PREFIX = ".wgp-tmp-"


def append_lines(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Append one JSON line per record, all or none; returns the number of lines written."""
    lines = [json.dumps(r, sort_keys=True, default=str, ensure_ascii=False) for r in records]
    if not lines:
        return 0
    payload = ("\n".join(lines) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _open_locked(path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    try:
        _cut_torn_tail(fd)
        size = os.fstat(fd).st_size
        try:
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            # A line that stayed would describe a file the failed job deletes next.
            os.ftruncate(fd, size)
            os.fsync(fd)
            raise
    finally:
        os.close(fd)  # releases the lock
    return len(lines)


def remove_lines(path: Path, drop: Callable[[dict[str, Any]], bool], hint: str | None = None) -> int:
    """Remove the whole lines for which ``drop(line)`` is true (and a torn tail); returns how many.

    ``hint``, when given, is a string every dropped line contains: other lines are kept
    without being parsed.
    """
    try:
        fd = _open_locked(path, os.O_RDWR)
    except FileNotFoundError:
        return 0
    needle = hint.encode("utf-8") if hint else None
    try:
        dropped = dropped_in_tail = 0
        kept_end = offset = 0  # kept_end: where the last kept line ends
        with os.fdopen(os.dup(fd), "rb") as fh:
            for raw in fh:
                offset += len(raw)
                if not raw.endswith(b"\n"):
                    break  # a torn tail: never a record
                if _dropped(raw, drop, needle):
                    dropped += 1
                    dropped_in_tail += 1
                else:
                    kept_end, dropped_in_tail = offset, 0
        if not dropped and kept_end == offset:
            return 0
        if dropped_in_tail == dropped:
            # Everything to remove follows the last kept line: cutting there is atomic and
            # needs no free space (the common case: the failed job appended last).
            os.ftruncate(fd, kept_end)
            os.fsync(fd)
        else:
            _rewrite(path, fd, drop, needle)
        return dropped
    finally:
        os.close(fd)


def _rewrite(path: Path, fd: int, drop: Callable[[dict[str, Any]], bool], needle: bytes | None) -> None:
    """Write the kept lines to a temporary file and rename it over ``path`` (the lock on ``fd`` held)."""
    tmp_fd, tmp_name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", suffix=".jsonl", dir=path.parent)
    try:
        os.fchmod(tmp_fd, os.fstat(fd).st_mode & 0o777)
        with os.fdopen(tmp_fd, "wb") as out, os.fdopen(os.dup(fd), "rb") as fh:
            fh.seek(0)
            for raw in fh:
                if raw.endswith(b"\n") and not _dropped(raw, drop, needle):
                    out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _dropped(raw: bytes, drop: Callable[[dict[str, Any]], bool], needle: bytes | None) -> bool:
    if needle is not None and needle not in raw:
        return False
    try:
        line = json.loads(raw)
    except ValueError:
        return False  # not ours to judge: a line another program wrote
    return isinstance(line, dict) and bool(drop(line))


def _open_locked(path: Path, flags: int) -> int:
    """Open ``path`` and lock it, making sure the locked file is still the one at ``path``."""
    while True:
        fd = os.open(path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            st, now = os.fstat(fd), os.stat(path)
        except FileNotFoundError:
            os.close(fd)  # replaced and not yet there again: open the new one
            if not flags & os.O_CREAT:
                raise
            continue
        except BaseException:
            os.close(fd)
            raise
        if (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino):
            return fd
        os.close(fd)  # a remover renamed a new file over it while we waited


def _cut_torn_tail(fd: int) -> None:
    size = os.fstat(fd).st_size
    if size == 0:
        return
    if os.pread(fd, 1, size - 1) == b"\n":
        return
    # Find the last newline and drop everything after it (a line whose writer died).
    pos, chunk = size, 4096
    while pos > 0:
        start = max(0, pos - chunk)
        block = os.pread(fd, pos - start, start)
        idx = block.rfind(b"\n")
        if idx >= 0:
            os.ftruncate(fd, start + idx + 1)
            return
        pos = start
    os.ftruncate(fd, 0)


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every whole line of a manifest, parsed."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.endswith("\n"):
                out.append(json.loads(line))
    return out
