"""Appending whole JSON lines to a file shared by many processes.

All lines of one call go out in one ``write`` under an exclusive ``flock`` and
are fsynced before the lock is released.  If an earlier writer died half-way
through a line, the torn tail is cut off before appending, so readers only ever
see whole lines.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any, Iterable


def append_lines(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Append one JSON line per record atomically; returns the number of lines written."""
    lines = [json.dumps(r, sort_keys=True, default=str, ensure_ascii=False) for r in records]
    if not lines:
        return 0
    payload = ("\n".join(lines) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            _cut_torn_tail(fd)
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
    return len(lines)


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
