"""Hook specifications and public types for wgp plugins.

Plugin authors depend on this package (and pluggy), never on the host::

    from wgp_hookspecs import hookimpl, ModelFamily

    @hookimpl
    def register_model_families(register):
        register(ModelFamily(...))
"""

from .hookspecs import PROJECT_NAME, hookimpl, hookspec
from .types import (
    JOB_STATES,
    SCHEMA_VERSION,
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
    ProgressEvent,
    ProgressSink,
    QueueBackend,
    SinkOptions,
    UserError,
    Writer,
    replace_params,
)

__version__ = "0.1.0"

__all__ = [
    "JOB_STATES",
    "PROJECT_NAME",
    "SCHEMA_VERSION",
    "Adapter",
    "AdapterOption",
    "Artifact",
    "AudioTrack",
    "CancelToken",
    "GenerationContext",
    "GenerationRequest",
    "GenerationResult",
    "JobCancelled",
    "JobRecord",
    "LoadPlan",
    "LoadedModel",
    "ModelFamily",
    "ModelSpec",
    "OutputContext",
    "Param",
    "ParameterError",
    "ProgressEvent",
    "ProgressSink",
    "QueueBackend",
    "SinkOptions",
    "UserError",
    "Writer",
    "hookimpl",
    "hookspec",
    "replace_params",
]
