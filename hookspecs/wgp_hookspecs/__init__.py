"""Hook specifications and public types for wgp plugins.

Plugin authors depend on this package (and pluggy), never on the host::

    from wgp_hookspecs import hookimpl, ModelFamily

    @hookimpl
    def register_model_families(register):
        register(ModelFamily(...))

Names are imported from their submodule on first use (PEP 562), so a program
that needs only an error class or a constant (``wgp --help``) does not pay for
the dataclasses, pluggy or the queue contract.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the submodule that defines it.
_EXPORTS = {
    **dict.fromkeys(("CAPABILITIES", "ENDED_STATES", "JOB_STATES", "MAX_SEED", "METADATA_MODES", "PRIORITY_RANGE",
                     "PROGRESS_MODES", "SCHEMA_VERSION", "WAITING_STATES"), "constants"),
    **dict.fromkeys(("JobCancelled", "ParameterError", "QueueOperationNotSupported", "UserError"), "errors"),
    **dict.fromkeys(("PROJECT_NAME", "hookimpl", "hookspec"), "hookspecs"),
    **dict.fromkeys(("Host", "JobOptions"), "host"),
    **dict.fromkeys(("JobExecutor", "JobRecord", "QueueBackend", "WorkerService"), "queue"),
    **dict.fromkeys((
        "MEDIA_TYPES", "SEED_PARAM", "STANDARD_FLAGS", "Adapter", "AdapterOption", "Artifact", "AudioTrack", "CancelToken", "GenerationContext",
        "GenerationRequest", "GenerationResult", "LoadPlan", "LoadedModel", "ModelFamily", "ModelSpec",
        "OutputContext", "Param", "PlanOption", "Profile", "ProgressEvent", "ProgressSink", "SinkOptions", "Writer",
        "replace_params", "resolve_seed",
    ), "types"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'wgp_hookspecs' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .constants import (
        CAPABILITIES,
        ENDED_STATES,
        JOB_STATES,
        MAX_SEED,
        METADATA_MODES,
        PRIORITY_RANGE,
        PROGRESS_MODES,
        SCHEMA_VERSION,
        WAITING_STATES,
    )
    from .errors import JobCancelled, ParameterError, QueueOperationNotSupported, UserError
    from .hookspecs import PROJECT_NAME, hookimpl, hookspec
    from .host import Host, JobOptions
    from .queue import JobExecutor, JobRecord, QueueBackend, WorkerService
    from .types import (
        MEDIA_TYPES,
        SEED_PARAM,
        STANDARD_FLAGS,
        Adapter,
        AdapterOption,
        Artifact,
        AudioTrack,
        CancelToken,
        GenerationContext,
        GenerationRequest,
        GenerationResult,
        LoadedModel,
        LoadPlan,
        ModelFamily,
        ModelSpec,
        OutputContext,
        Param,
        PlanOption,
        Profile,
        ProgressEvent,
        ProgressSink,
        SinkOptions,
        Writer,
        replace_params,
        resolve_seed,
    )
