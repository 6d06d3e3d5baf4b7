"""The sidecar and manifest writers.

Both run after the media writers (``kinds = {"artifacts"}``): they describe the
files the job has already written.  The manifest is appended last, all lines of
a job in one locked write, so a job is in the manifest completely or not at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from wgp_hookspecs import SCHEMA_VERSION, Artifact, GenerationResult, OutputContext, Writer

from .appender import append_lines

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
        configured = output.options.get("manifest_path")
        path = Path(configured).expanduser() if configured else Path(output.output_dir) / MANIFEST_NAME
        base = path.resolve().parent
        record = dict(output.record)
        lines = []
        for artifact in output.artifacts:
            line = {
                "schema": SCHEMA_VERSION,
                "job": record.get("job"),
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


def _describe(artifact: Artifact) -> dict[str, Any]:
    out = artifact.to_dict()
    out["path"] = os.path.basename(artifact.path)
    return out


def _role_fields(artifact: Artifact) -> dict[str, Any]:
    meta = dict(artifact.metadata)
    if artifact.role == "audio":
        return {key: meta.get(key) for key in AUDIO_FIELDS}
    return meta
