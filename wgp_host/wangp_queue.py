"""``wgp queue import FILE``: a WanGP saved queue (``queue.zip``) as queued wgp jobs.

WanGP's "Save Queue" writes a zip holding ``queue.json`` (a list of tasks, each with its
settings under ``params``, the keys of a WanGP settings export) and the media the tasks use
(start/end images, ...), which the settings name by their file name inside the zip (WanGP
docs/CLI.md and docs/API.md: bundled media resolve from the extracted queue contents).

Every task passes the same door as ``wgp queue add`` (:func:`~wgp_host.submit.build_job`,
through a settings file, so WanGP keys read as ``wgp run --settings`` reads them), all of
them before any is queued.  The media are copied into the state folder
(``<state_dir>/imports/<batch>/``), because queued jobs outlive any temporary folder; that
folder is removed again when a task is refused, so a refused import leaves nothing behind.
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from wgp_hookspecs import JobOptions, UserError

from .batch import new_batch_id
from .job import Job
from .wangp import is_wangp_settings

QUEUE_JSON = "queue.json"
#: WanGP's media inputs (docs/SETTINGS.md, "Image And Video Inputs" and "Audio Inputs"): in a saved
#: queue, a relative file name there is a member of the zip, never a file in the current folder.
MEDIA_KEYS = ("image_start", "image_end", "image_refs", "image_guide", "image_mask", "video_source", "video_guide",
              "video_guide2", "video_guide3", "video_mask", "audio_guide", "audio_guide2", "audio_guide3",
              "audio_source", "custom_guide")
#: Limits on what is read from a zip (uncompressed bytes), so a crafted archive cannot fill the disk.
MAX_MEMBER_BYTES = 512 * 1024 * 1024
MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
MAX_QUEUE_JSON_BYTES = 16 * 1024 * 1024


def import_queue(host: Any, runtime: Any, path: str | Path) -> tuple[str, list[Job], list[str]]:
    """Validate every task of the WanGP queue zip at ``path``; returns the batch id, the jobs in
    the zip's order, and the warnings, each once.  Raises :class:`UserError` (naming the task)
    and leaves nothing written when any task or the zip itself is refused."""
    p = Path(path)
    try:
        archive = zipfile.ZipFile(p)
    except FileNotFoundError:
        raise UserError(f"queue file not found: {p}") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"{p} is not a WanGP queue zip: {exc}") from None
    with archive:
        members = _check_members(archive, p)
        tasks = _read_tasks(archive, members, p)
        batch = new_batch_id()
        folder = Path(runtime.state_dir) / "imports" / batch
        folder.mkdir(parents=True)
        try:
            jobs, warnings = _build_jobs(host, runtime, archive, members, tasks, folder, batch, p)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return batch, jobs, warnings


def _check_members(archive: zipfile.ZipFile, path: Path) -> dict[str, zipfile.ZipInfo]:
    """The zip's files by name, once every name is a plain relative path and every size within the limits."""
    members: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in archive.infolist():
        name = info.filename
        parts = PurePosixPath(name).parts
        if ("\\" in name or name.startswith("/") or ":" in name or "\x00" in name
                or any(part in ("..", ".") for part in parts)):
            raise UserError(f"{path}: refused member {name!r}: not a plain path inside the zip")
        if info.is_dir():
            continue
        if info.file_size > MAX_MEMBER_BYTES:
            raise UserError(f"{path}: member {name!r} is {info.file_size} bytes; at most {MAX_MEMBER_BYTES}")
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise UserError(f"{path}: the zip holds more than {MAX_TOTAL_BYTES} bytes")
        members[name] = info
    return members


def _read_tasks(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], path: Path) -> list[dict[str, Any]]:
    if QUEUE_JSON not in members:
        raise UserError(f"{path}: no {QUEUE_JSON} in the zip (is it a WanGP saved queue?)")
    raw = _read_member(archive, members[QUEUE_JSON], MAX_QUEUE_JSON_BYTES, path)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: {QUEUE_JSON} is not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise UserError(f"{path}: {QUEUE_JSON} must hold a list of tasks")
    if not data:
        raise UserError(f"{path}: {QUEUE_JSON} holds no tasks")
    tasks = []
    for index, task in enumerate(data, 1):
        # A task keeps its settings under "params"; a bare settings object is read the same way.
        settings = task.get("params") if isinstance(task, dict) and isinstance(task.get("params"), dict) else task
        if not isinstance(settings, dict):
            raise UserError(f"{path}: task {index}: not a JSON object of settings")
        if not is_wangp_settings(settings):
            raise UserError(f"{path}: task {index}: no model_type (not a WanGP task)")
        tasks.append(dict(settings))
    return tasks


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, path: Path) -> bytes:
    # The read stops past the limit whatever the zip's directory says about the size.
    try:
        with archive.open(info) as source:
            data = source.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise UserError(f"{path}: member {info.filename!r} cannot be read: {exc}") from None
    if len(data) > limit:
        raise UserError(f"{path}: member {info.filename!r} is larger than {limit} bytes")
    return data


def _build_jobs(host: Any, runtime: Any, archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo],
                tasks: list[dict[str, Any]], folder: Path, batch: str, path: Path) -> tuple[list[Job], list[str]]:
    from .submit import build_job

    jobs: list[Job] = []
    warnings: list[str] = []
    for index, settings in enumerate(tasks, 1):
        try:
            for key, value in list(settings.items()):
                settings[key] = _attach(archive, members, value, folder, index, path)
                if key in MEDIA_KEYS:
                    _check_media(key, settings[key])
            task_file = folder / f"task{index}.json"
            task_file.write_text(json.dumps(settings, indent=1), encoding="utf-8")
            job, found = build_job(host, runtime, JobOptions(settings=str(task_file)))
        except UserError as exc:
            raise UserError(f"{path}: task {index}: {exc}") from None
        jobs.append(replace(job, batch=batch))
        # The per-task file names differ; the warning is the same for every task.
        warnings += [w for w in (re.sub(r"task\d+\.json", "taskN.json", w) for w in found) if w not in warnings]
    return jobs, warnings


def _attach(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], value: Any, folder: Path, index: int,
            path: Path) -> Any:
    """``value`` with every file name of a zip member replaced by the path of its copy in ``folder``;
    a one-item list (WanGP keeps images as lists) becomes its item."""
    if isinstance(value, list) and value and all(isinstance(item, str) and item in members for item in value):
        copies = [_copy(archive, members[item], folder, index, path) for item in value]
        return copies[0] if len(copies) == 1 else copies
    if isinstance(value, str) and value in members and value != QUEUE_JSON:
        return _copy(archive, members[value], folder, index, path)
    return value


def _copy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, folder: Path, index: int, path: Path) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", PurePosixPath(info.filename).name) or "file"
    target = folder / f"task{index}-{safe}"
    target.write_bytes(_read_member(archive, info, MAX_MEMBER_BYTES, path))
    return str(target.resolve())


def _check_media(key: str, value: Any) -> None:
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and item and not Path(item).is_absolute():
            raise UserError(f"{key} {item!r} is not in the zip")
