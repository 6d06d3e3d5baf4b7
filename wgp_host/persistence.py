"""Media persistence: the single place where artifacts are written.

Writers hand a ``write(tmp_path)`` callable to :meth:`MediaPersistence.persist`;
it writes into a hidden temporary file in the output folder, fsyncs it, hashes
it and links it to its final name without ever replacing an existing file (a
name collision takes the next free ``-N`` name), then emits one ``artifact``
event.  A job that fails or is cancelled rolls its artifacts back.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from wgp_hookspecs import Artifact, JobCancelled, UserError

from .naming import safe_text
from .atomic import (
    NO_ROOM_ERRNOS,
    TMP_PREFIX,
    fsync_file,
    no_room_text,
    sha256_file,
    temp_owner_alive,
    temp_path_for,
    write_problem,
)
from .testpoints import pause_point

TRANSIENT_ERRNOS = {errno.EAGAIN, errno.EINTR, errno.EBUSY, errno.ETIMEDOUT}
RETRIES = 3


class MediaPersistence:
    """Implements :class:`wgp_hookspecs.OutputContext` for one job."""

    def __init__(
        self,
        output_dir: Path,
        stem: str,
        *,
        record: Mapping[str, Any],
        metadata_mode: str = "embedded",
        options: Mapping[str, Any] | None = None,
        emit: Callable[..., Any] | None = None,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.stem = stem
        self.record = record
        self.metadata_mode = metadata_mode
        self.options = dict(options or {})
        self.artifacts: list[Artifact] = []
        self._emit = emit
        self._swept = False

    def persist(
        self,
        role: str,
        suffix: str,
        media_type: str,
        write: Callable[[Path], None],
        metadata: Mapping[str, Any] | None = None,
        tag: str | None = None,
        beside: Artifact | None = None,
    ) -> Artifact:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        if not self._swept:
            # A killed `wgp run` leaves its temporaries behind and nothing recovers it as a
            # queue recovers a worker: the next job writing here removes them (pid-checked,
            # so a live writer's files stay).
            remove_stale_temporaries(self.output_dir)
            self._swept = True
        if beside is not None:
            stem = safe_text(Path(beside.path).name)
        else:
            stem = f"{self.stem}_{safe_text(tag)}" if tag else self.stem
        tmp = self._write_with_retries(self.output_dir / f"{stem}{suffix}", write)
        try:
            digest = sha256_file(tmp)
            size = tmp.stat().st_size
            final = _link_unique(tmp, self.output_dir, stem, suffix)
            pause_point("artifact.linked")
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(self.output_dir)
        artifact = Artifact(role, str(final), media_type, digest, size, dict(metadata or {}))
        self.artifacts.append(artifact)
        if self._emit is not None:
            self._emit("artifact", **artifact.to_dict())
        pause_point("artifact.recorded")
        return artifact

    def _write_with_retries(self, target: Path, write: Callable[[Path], None]) -> Path:
        """Fill a fresh temporary file; transient I/O errors are retried with back-off.

        A write that fails because the folder has no room (or cannot be written at
        all) is a :class:`UserError` naming the file, the folder and the fix: the
        user's to solve, not a bug, and reported the same whatever library wrote.
        """
        for attempt in range(RETRIES):
            try:
                tmp = temp_path_for(target)
            except OSError as exc:
                raise _unwritable(target, exc) from None
            try:
                write(tmp)
                fsync_file(tmp)
                return tmp
            except OSError as exc:
                if exc.errno in TRANSIENT_ERRNOS and attempt < RETRIES - 1:
                    tmp.unlink(missing_ok=True)
                    time.sleep(0.05 * 2**attempt)
                    continue
                problem = exc if exc.errno in NO_ROOM_ERRNOS else write_problem(target.parent)
                tmp.unlink(missing_ok=True)
                if problem is not None:
                    raise _unwritable(target, problem) from None
                raise
            except (UserError, JobCancelled):
                tmp.unlink(missing_ok=True)
                raise
            except Exception:
                # Probed before the temporary goes: it may hold the disk's last free blocks.
                problem = write_problem(target.parent)
                tmp.unlink(missing_ok=True)
                if problem is not None:
                    raise _unwritable(target, problem) from None
                raise
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        raise AssertionError("unreachable")

    def rollback(self) -> None:
        """Delete every artifact of this job (used when the job fails or is cancelled).

        The runner first lets each writer ``discard`` its records of the attempt
        (manifest lines), so no record ever names a file deleted here."""
        for artifact in self.artifacts:
            Path(artifact.path).unlink(missing_ok=True)
        self.artifacts.clear()


def _unwritable(target: Path, exc: OSError) -> UserError:
    return UserError(f"cannot write {target.name} in {target.parent}: {no_room_text(exc)} or choose another "
                     "--output-dir (config output_dir)")


def _link_unique(tmp: Path, folder: Path, stem: str, suffix: str) -> Path:
    """Give ``tmp`` its final name atomically, never overwriting another file."""
    for n in range(10_000):
        final = folder / (f"{stem}{suffix}" if n == 0 else f"{stem}-{n + 1}{suffix}")
        try:
            os.link(tmp, final)
            return final
        except FileExistsError:
            continue
        except OSError as exc:  # filesystems without hard links
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            if final.exists():
                continue
            os.replace(tmp, final)
            return final
    raise FileExistsError(f"no free file name for {stem}{suffix} in {folder}")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(folder: Path, older_than_s: float = 3600.0) -> int:
    """Delete temporary files whose writer is gone; returns how many.

    A file whose owner pid (in its name) no longer runs goes at once; one whose
    owner cannot be told only after ``older_than_s``.  A live writer's file is
    never touched, even with other processes writing into the same folder.
    """
    removed = 0
    now = time.time()
    try:
        entries = list(Path(folder).glob(TMP_PREFIX + "*"))
    except OSError:
        return 0
    for path in entries:
        try:
            alive = temp_owner_alive(path)
            if alive is False or (alive is None and now - path.stat().st_mtime >= older_than_s):
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed
