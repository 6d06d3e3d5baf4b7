"""Hook specifications and public types for wgp plugins.

Plugin authors depend on this package (and pluggy), never on the host::

    from wgp_hookspecs import hookimpl, ModelFamily

    @hookimpl
    def register_model_families(register):
        register(ModelFamily(...))
"""

from .hookspecs import PROJECT_NAME, hookimpl, hookspec
from .host import Host, JobOptions
from .types import (
    JOB_STATES,
    MAX_SEED,
    METADATA_MODES,
    PROGRESS_MODES,
    SCHEMA_VERSION,
    SEED_PARAM,
    Adapter,
    AdapterOption,
    Artifact,
    AudioTrack,
    CancelToken,
    GenerationContext,
    GenerationRequest,
    GenerationResult,
    JobCancelled,
    JobRecord,
    LoadedModel,
    LoadPlan,
    ModelFamily,
    ModelSpec,
    OutputContext,
    Param,
    ParameterError,
    PlanOption,
    ProgressEvent,
    ProgressSink,
    QueueBackend,
    QueueOperationNotSupported,
    SinkOptions,
    UserError,
    Writer,
    replace_params,
    resolve_seed,
)

__version__ = "0.1.0"

__all__ = [
    "JOB_STATES",
    "MAX_SEED",
    "METADATA_MODES",
    "PROGRESS_MODES",
    "PROJECT_NAME",
    "SCHEMA_VERSION",
    "SEED_PARAM",
    "Adapter",
    "AdapterOption",
    "Artifact",
    "AudioTrack",
    "CancelToken",
    "GenerationContext",
    "GenerationRequest",
    "GenerationResult",
    "Host",
    "JobOptions",
    "JobCancelled",
    "JobRecord",
    "LoadPlan",
    "LoadedModel",
    "ModelFamily",
    "ModelSpec",
    "OutputContext",
    "Param",
    "ParameterError",
    "PlanOption",
    "ProgressEvent",
    "ProgressSink",
    "QueueBackend",
    "QueueOperationNotSupported",
    "SinkOptions",
    "UserError",
    "Writer",
    "hookimpl",
    "hookspec",
    "replace_params",
    "resolve_seed",
]
