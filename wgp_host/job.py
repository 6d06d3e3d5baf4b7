"""The frozen job: what a worker needs to replay a generation, and nothing global."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

from wgp_hookspecs import SCHEMA_VERSION, GenerationRequest, LoadPlan, UserError


@dataclass(frozen=True)
class OutputOptions:
    """Where and how a job's results are written."""

    output_dir: str
    writers: tuple[str, ...] = ("video", "image", "audio", "mattes")
    metadata_mode: str = "embedded"
    filename_template: str = "{date}_{time}_seed{seed}_{prompt:40}"
    writer_options: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "output_dir": self.output_dir,
            "writers": list(self.writers),
            "metadata_mode": self.metadata_mode,
            "filename_template": self.filename_template,
            "writer_options": dict(self.writer_options),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutputOptions:
        return cls(
            output_dir=str(data["output_dir"]),
            writers=tuple(data.get("writers") or ()),
            metadata_mode=str(data.get("metadata_mode") or "embedded"),
            filename_template=str(data.get("filename_template") or cls.filename_template),
            writer_options=dict(data.get("writer_options") or {}),
        )


@dataclass(frozen=True)
class Job:
    """Request + adapter payloads + load plan + output options, with an id."""

    request: GenerationRequest
    output: OutputOptions
    plan: LoadPlan = field(default_factory=LoadPlan)
    adapters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    #: The ``--profile`` the job was built with (its values are already in the request and plan).
    profile: str | None = None
    #: The batch it was added with (``--sweep``, ``--requests``; see :mod:`wgp_host.batch`), or None.
    batch: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "id": self.id,
            "request": self.request.to_dict(),
            "output": self.output.to_dict(),
            "plan": self.plan.to_dict(),
            "adapters": {k: dict(v) for k, v in self.adapters.items()},
            "profile": self.profile,
            **({"batch": self.batch} if self.batch else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        try:
            plan = data.get("plan") or {}
            return cls(
                id=str(data["id"]),
                request=GenerationRequest.from_dict(data["request"]),
                output=OutputOptions.from_dict(data["output"]),
                plan=LoadPlan.from_dict(plan),
                adapters=dict(data.get("adapters") or {}),
                profile=data.get("profile"),
                batch=data.get("batch"),
            )
        except (KeyError, TypeError) as exc:
            raise UserError(f"not a valid job: missing or bad field {exc}") from None
