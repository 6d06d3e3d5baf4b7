"""The sidecar and manifest writers.

Both run after the media writers (``kinds = {"artifacts"}``): they describe the
files the job has already written.  The manifest is appended last, all lines of
a job in one locked write that leaves all of them or none.  Each line carries the
job id and the attempt, and ``discard`` takes an attempt's lines out again: the host
calls it before deleting the files of a job that failed, was cancelled, or whose
worker died, so every line names a file that exists with that sha256, once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from wgp_hookspecs import SCHEMA_VERSION, Artifact, GenerationResult, OutputContext, Writer

from .appender import append_lines, remove_lines

MANIFEST_NAME = "manifest.jsonl"
AUDIO_FIELDS = ("sample_rate", "duration_s", "language", "channels", "codec")


class SidecarWriter(Writer):
    name = "sidecar"
    kinds = frozenset({"artifacts"})
    description = "A <file>.json beside each output with its generation record (--metadata-mode json)"
    order = 900

    def write(self, result: GenerationResult, output: OutputContext) -> None:
        if output.metadata_mode != "json":
            return
        for media in [a for a in output.artifacts if a.role != "sidecar"]:
            body = {"schema": SCHEMA_VERSION, "artifact": _describe(media), "record": dict(output.record)}
            text = json.dumps(body, indent=2, sort_keys=True, default=str) + "\n"
            output.persist(
                "sidecar",
                ".json",
                "application/json",
                lambda tmp, t=text: Path(tmp).write_text(t, encoding="utf-8"),
                {"for": os.path.basename(media.path)},
                beside=media,
            )


class ManifestWriter(Writer):
    name = "manifest"
    kinds = frozenset({"artifacts"})
    description = "One JSON line per artifact appended to manifest.jsonl (or the manifest_path option)"
    order = 1000

    def write(self, result: GenerationResult, output: OutputContext) -> None:
        path = manifest_path(output.output_dir, output.options)
        assert path is not None
        base = path.resolve().parent
        record = dict(output.record)
        lines = []
        for artifact in output.artifacts:
            line = {
                "schema": SCHEMA_VERSION,
                "job": record.get("job"),
                "attempt": record.get("attempt"),
                "role": artifact.role,
                "path": os.path.relpath(artifact.path, base),
                "media_type": artifact.media_type,
                "sha256": artifact.sha256,
                "bytes": artifact.bytes,
                "record": record,
            }
            line.update(_role_fields(artifact))
            lines.append(line)
        append_lines(path, lines)

    def discard(self, job: str, attempt: int, output_dir: Any, options: Mapping[str, Any]) -> None:
        path = manifest_path(output_dir, options)
        if path is None:
            return
        # sort_keys puts '"job": "<id>"' verbatim in every line of the job: a cheap filter.
        remove_lines(path, lambda line: line.get("job") == job and line.get("attempt") == attempt,
                     hint=json.dumps({"job": job}, ensure_ascii=False)[1:-1])


def manifest_path(output_dir: Any, options: Mapping[str, Any]) -> Path | None:
    """The manifest a job appends to: the ``manifest_path`` option, else ``manifest.jsonl`` in its folder."""
    configured = options.get("manifest_path")
    if configured:
        return Path(str(configured)).expanduser()
    return Path(output_dir) / MANIFEST_NAME if output_dir else None


def _describe(artifact: Artifact) -> dict[str, Any]:
    out = artifact.to_dict()
    out["path"] = os.path.basename(artifact.path)
    return out


def _role_fields(artifact: Artifact) -> dict[str, Any]:
    meta = dict(artifact.metadata)
    if artifact.role == "audio":
        return {key: meta.get(key) for key in AUDIO_FIELDS}
    return meta
