"""Public types shared by the host and its plugins.

Nothing here imports torch or numpy: media arrays are typed ``Any`` and are
numpy arrays at run time (uint8 frames ``[T, H, W, 3]``, float32 audio
``[samples, channels]``).
"""

from __future__ import annotations

import json
import math
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, ContextManager, Iterable, Mapping, Protocol, Sequence

from .constants import MAX_SEED, SCHEMA_VERSION
from .errors import JobCancelled, ParameterError, UserError

# --------------------------------------------------------------------------- parameters

#: Parameter types that hold a file path: opened and verified by the host at the door, recorded
#: with their sha256 (``path``: any readable file; ``mask``: an image or a video).
MEDIA_TYPES = ("image", "video", "audio", "mask", "path")
_PARAM_TYPES = ("int", "float", "str", "bool", *MEDIA_TYPES)
#: Parameters every family may have, set by the host's own flags of ``wgp run`` and ``wgp queue add``.
STANDARD_FLAGS = {name: "--" + name.replace("_", "-") for name in (
    "prompt", "negative_prompt", "seed", "steps", "guidance", "width", "height", "frames", "fps", "image_start", "image_end")}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _number(value: float) -> str:
    """A bound as people write it: ``4294967295``, ``0.5``, not ``4.29497e+09``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Param:
    """One parameter of a model's schema: type, default and constraints.

    ``multiple_of`` with ``remainder`` expresses rules such as "frames must be
    4n+1" (``multiple_of=4, remainder=1``).  Media types (:data:`MEDIA_TYPES`) hold a
    file path, which the host opens and verifies before a job is queued; with
    ``multiple`` the value is a list of them (several reference images).  ``flag``
    (``"--control-video"``) gives a parameter its own option on ``wgp run`` and
    ``wgp queue add`` (repeatable when ``multiple``); others are set with ``--set``.
    """

    name: str
    type: str = "str"
    default: Any = None
    help: str = ""
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    multiple_of: int | None = None
    remainder: int = 0
    multiple: bool = False
    flag: str | None = None

    def __post_init__(self) -> None:
        if self.type not in _PARAM_TYPES:
            raise ValueError(f"param {self.name}: unknown type {self.type!r}")
        if self.multiple and self.type not in MEDIA_TYPES:
            raise ValueError(f"param {self.name}: only media parameters take several values")
        if self.flag is not None and (not self.flag.startswith("--") or not self.flag[2:].replace("-", "").isalnum()):
            raise ValueError(f"param {self.name}: flag must look like --some-name, got {self.flag!r}")

    @property
    def is_media(self) -> bool:
        return self.type in MEDIA_TYPES

    @property
    def cli_flag(self) -> str | None:
        """The option that sets this parameter: its own ``flag``, or the host's standard one
        (``--image-start``, ``--image-end``, ...); None when only ``--set`` does."""
        return self.flag or STANDARD_FLAGS.get(self.name)

    def coerce(self, value: Any) -> Any:
        """Convert a value from the command line or JSON to this parameter's type."""
        if value is None:
            return None
        if self.multiple:
            # One file given alone is a list of one; ``--set refs=a.png,b.png`` is a list of two.
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)) or not items:
                raise ParameterError(self.name, f"expected a list of files, got {value!r}")
            if any(not isinstance(item, str) for item in items):
                raise ParameterError(self.name, f"expected file names, got {value!r}")
            return [item.strip() for item in items]
        try:
            if self.type == "int":
                if isinstance(value, bool):
                    raise ValueError
                if isinstance(value, float):
                    if not value.is_integer():
                        raise ValueError
                    return int(value)
                return int(str(value).strip(), 10) if isinstance(value, str) else int(value)
            if self.type == "float":
                if isinstance(value, bool):
                    raise ValueError
                result = float(value)
                if not math.isfinite(result):
                    raise ValueError
                return result
            if self.type == "bool":
                if isinstance(value, bool):
                    return value
                text = str(value).strip().lower()
                if text in _TRUE:
                    return True
                if text in _FALSE:
                    return False
                raise ValueError
            if isinstance(value, (dict, list)):
                raise ValueError
            return str(value)
        except (TypeError, ValueError):
            raise ParameterError(self.name, f"expected {self.type}, got {value!r}") from None

    def validate(self, value: Any) -> Any:
        """Coerce and check ``value``; returns the clean value or raises ParameterError."""
        value = self.coerce(value)
        if value is None:
            if self.required:
                raise ParameterError(self.name, f"is required ({self.help})" if self.help else "is required")
            return None
        if self.multiple:
            # For a list, minimum and maximum bound how many files it holds.
            if self.minimum is not None and len(value) < self.minimum:
                raise ParameterError(self.name, f"needs at least {_number(self.minimum)} files (got {len(value)})")
            if self.maximum is not None and len(value) > self.maximum:
                raise ParameterError(self.name, f"takes at most {_number(self.maximum)} files (got {len(value)})")
            return value
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(str(c) for c in self.choices)
            raise ParameterError(self.name, f"must be one of {allowed} (got {value!r})")
        if self.minimum is not None and value < self.minimum:
            raise ParameterError(self.name, f"must be at least {_number(self.minimum)} (got {value!r})")
        if self.maximum is not None and value > self.maximum:
            raise ParameterError(self.name, f"must be at most {_number(self.maximum)} (got {value!r})")
        if self.multiple_of and value % self.multiple_of != self.remainder:
            raise ParameterError(self.name, f"{self.rule_text()} (got {value}; {self.nearest_text(value)})")
        if self.type == "str" and "\x00" in value:
            raise ParameterError(self.name, "must not contain NUL characters")
        if self.required and isinstance(value, str) and not value.strip():
            # A model that needs a prompt gets noise from an empty one, after minutes of work.
            raise ParameterError(self.name, f"must not be empty ({self.help})" if self.help else "must not be empty")
        return value

    def rule_text(self) -> str:
        if not self.multiple_of:
            return ""
        if self.remainder:
            return f"must be {self.multiple_of}n+{self.remainder}"
        return f"must be a multiple of {self.multiple_of}"

    def nearest_text(self, value: int) -> str:
        step = self.multiple_of or 1
        below = value - ((value - self.remainder) % step)
        above = below + step
        options = [v for v in (below, above) if self.minimum is None or v >= self.minimum]
        return "nearest valid: " + " or ".join(str(v) for v in options)

    def describe(self) -> dict[str, Any]:
        """JSON description used by ``wgp models --json``."""
        out: dict[str, Any] = {"name": self.name, "type": self.type, "default": self.default}
        for key in ("minimum", "maximum", "choices", "multiple_of"):
            if getattr(self, key) is not None:
                out[key] = list(getattr(self, key)) if key == "choices" else getattr(self, key)
        if self.multiple_of:
            out["remainder"] = self.remainder
            out["rule"] = self.rule_text()
        if self.required:
            out["required"] = True
        if self.multiple:
            out["multiple"] = True
        if self.cli_flag:
            out["flag"] = self.cli_flag
        if self.help:
            out["help"] = self.help
        return out


#: The ``seed`` parameter of every seeded model; the host owns it: -1 or omitted picks a
#: seed, which is recorded.  A family lists this object itself (the registry refuses a
#: model whose ``seed`` parameter differs), so validation, help and ``wgp models --json``
#: all read the same rule.
SEED_PARAM = Param(
    "seed", "int", minimum=-1, maximum=MAX_SEED, help=f"seed, 0..{MAX_SEED}; -1 or omitted picks one (recorded in the output)"
)


def resolve_seed(value: Any) -> int:
    """The seed to generate with: ``value`` checked against :data:`SEED_PARAM`, or a random
    one when it is None or -1.  The one place a seed is picked."""
    import secrets

    value = SEED_PARAM.validate(value)
    if value is None or value < 0:
        return secrets.randbelow(MAX_SEED + 1)
    return int(value)


def replace_params(params: Iterable[Param], **changes: Mapping[str, Any]) -> tuple[Param, ...]:
    """Return ``params`` with fields of the named ones changed, e.g. ``fps={"default": 24}``."""
    import dataclasses

    out = []
    for p in params:
        out.append(dataclasses.replace(p, **changes[p.name]) if p.name in changes else p)
    return tuple(out)


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelSpec:
    """One model id of a family, with everything needed to validate a request for it."""

    id: str
    capabilities: frozenset[str]
    params: tuple[Param, ...]
    description: str = ""
    #: Default weights location: a Hugging Face repo id or a folder.
    weights: str | None = None
    #: Family-private settings (pipeline class, expert boundary, ...).
    options: Mapping[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


@dataclass(frozen=True)
class LoadPlan:
    """How to load a model: weights location, device, and the values of plan options.

    ``device`` keeps the user's word (``auto`` included); the family resolves it
    when it loads, because only it imports torch.  ``options`` holds the values of
    the :class:`PlanOption` s that apply to the model's family (``dtype``,
    ``offload``, ``vae_tiling`` for diffusers families), already validated by the
    host; each changes the loaded model, so each is part of :meth:`key`.
    """

    weights: str | None = None
    device: str = "auto"
    options: Mapping[str, Any] = field(default_factory=dict)
    #: A folder the family may keep caches in on this machine (compile caches, calibration
    #: data); set by the host (at the door the submitting machine's, when loading the worker's),
    #: so it is neither recorded nor part of :meth:`key`.
    cache_dir: str | None = None

    def option(self, name: str, default: Any = None) -> Any:
        """The value of plan option ``name``, or ``default`` when it is not set."""
        value = self.options.get(name)
        return default if value is None else value

    def key(self) -> tuple[Any, ...]:
        """What identifies a loaded model: a cached model is reused only for an equal key."""
        return (self.weights, self.device, json.dumps(dict(self.options), sort_keys=True, default=str))

    def to_dict(self) -> dict[str, Any]:
        return {"weights": self.weights, "device": self.device, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadPlan:
        """The inverse of :meth:`to_dict`; also reads jobs queued by wgp 0.1, whose plan
        held ``dtype``, ``offload`` and ``vae_tiling`` beside ``device``."""
        options = dict(data.get("options") or {})
        for legacy in ("dtype", "offload", "vae_tiling"):
            if legacy in data and legacy not in options:
                options[legacy] = data[legacy]
        return cls(weights=data.get("weights"), device=str(data.get("device") or "auto"), options=options)


@dataclass(frozen=True)
class PlanOption:
    """A load-plan option shared by every family of an option group, registered once.

    ``register_plan_options`` registers these (wgp-diffusers registers ``--dtype``,
    ``--offload`` and ``--vae-tiling`` for the ``diffusers`` group).  The host adds
    ``flags`` to ``wgp run`` and ``wgp queue add``; ``param`` is the one owner of
    the option's type, choices, default and help, used by click and by validation
    alike.  A value reaches the family as ``plan.options[param.name]``; it comes
    from the flag, else the config key ``config_key`` (default: the name), else
    ``param.default``.  A flag given for a model whose family does not list
    ``group`` in :attr:`ModelFamily.option_groups` is refused at the door.
    A ``bool`` option's flags look like ``("--vae-tiling/--no-vae-tiling",)``.
    """

    param: Param
    flags: tuple[str, ...]
    group: str
    config_key: str | None = None
    #: A repeatable flag (``--cache-option K=V``): the value is a tuple, each item checked by ``param``.
    multiple: bool = False

    @property
    def name(self) -> str:
        return self.param.name

    @property
    def key(self) -> str:
        """The config key read when the flag is not given."""
        return self.config_key or self.param.name


class LoadedModel(Protocol):
    """What a family's ``load`` returns; kept in the runner's cache between jobs.

    It may also set ``weights_revision`` (a string: the commit of a hub snapshot, or a
    content hash of a local folder) and ``load_report`` (a JSON-able dict: what it applied
    while loading, e.g. speed levers and library versions); the host copies both into
    every record (``weights_revision``, ``loaded``).
    """

    def generate(self, request: GenerationRequest, context: GenerationContext) -> GenerationResult: ...

    def unload(self) -> None: ...


@dataclass(frozen=True)
class Profile:
    """A named bundle of parameters, plan options and adapter options (``--profile NAME``).

    Families ship profiles as data (``ModelFamily.profiles``); users add their own as JSON
    files in the profiles folder.  Precedence: family defaults < profile < settings file <
    config < flags.  ``models`` limits a profile to some model ids (empty: every model of
    the family); ``source`` says where its values come from (a recipe, a model card).
    """

    name: str
    description: str = ""
    models: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    plan: Mapping[str, Any] = field(default_factory=dict)
    adapters: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def applies_to(self, model_id: str) -> bool:
        return not self.models or model_id in self.models

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "models": list(self.models),
                "params": dict(self.params), "plan": dict(self.plan), "adapters": dict(self.adapters),
                "source": self.source}


@dataclass(frozen=True)
class ModelFamily:
    """A model family: its model ids and the callables that load and build them.

    ``load(spec, plan)`` returns a :class:`LoadedModel`; it is the first place a
    family may import torch.  ``build_tiny(spec, folder)`` writes a random-weight
    copy for tests (``wgp models tiny``) into ``folder``, which exists and is empty.
    ``check(spec, params)`` runs the capability checks that the parameter schema
    cannot express (rules over several parameters or over files), once per job,
    at the door, before anything is queued or loaded; it raises
    :class:`UserError` or returns warnings.
    """

    name: str
    models: tuple[ModelSpec, ...]
    load: Callable[[ModelSpec, LoadPlan], LoadedModel]
    build_tiny: Callable[[ModelSpec, Any], None] | None = None
    check: Callable[[ModelSpec, Mapping[str, Any]], list[str]] | None = None
    description: str = ""
    #: Groups of :class:`PlanOption` s this family takes (``("diffusers",)`` for diffusers families).
    option_groups: tuple[str, ...] = ()
    #: ``check_plan(spec, plan)``: refuse plan options this family cannot honour (a cache option
    #: that its cache does not have), at the door like ``check``; returns warnings.  Checks that
    #: depend on the worker's machine (is CUDA there?) belong in ``load``, before weights are read.
    check_plan: Callable[[ModelSpec, LoadPlan], list[str]] | None = None
    #: Named bundles of parameters and levers (``wgp profiles``, ``--profile NAME``).
    profiles: tuple[Profile, ...] = ()
    #: ``match_weights(spec, location)``: which of the family's models the weights at
    #: ``location`` (``--model-path`` or config ``model_paths``: a folder or a repo id) are,
    #: read from their configs at the door, before the request takes its defaults: ``spec``
    #: itself, another model of the family (a versioned checkpoint given to a generic id, whose
    #: defaults then apply), or :class:`UserError` for weights of another model.  Torch-free;
    #: weights it cannot read (a repo not in the local cache) give ``spec`` back, and ``load``
    #: checks them when they arrive.
    match_weights: Callable[[ModelSpec, str], ModelSpec] | None = None
    #: ``fit_size(spec, params, given)``: size a validated request from its inputs at the door (an
    #: image-to-video output follows its start image): returns the changed parameters (validated
    #: again by the schema) and warnings (what will be cropped).  ``given`` names the parameters
    #: the user set (:attr:`GenerationRequest.given`); the others are defaults it may change.
    fit_size: Callable[[ModelSpec, Mapping[str, Any], frozenset[str]], tuple[Mapping[str, Any], list[str]]] | None = None


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class GenerationRequest:
    """A validated request: the model id and every parameter, seed resolved.

    Treat it as immutable: it is the frozen core of a job and is replayed as-is.
    ``given`` names the parameters the user set (flags, ``--set``, ``--resolution``, a
    ``--settings`` file, a ``--profile``); the others are the model's or the config's
    defaults, which a family's ``fit_size`` may change (a size that follows an image).
    ``inputs`` describes each media parameter's file as the host verified it at the door:
    ``{"kind", "path", "sha256", "bytes"}`` (and ``source``, the user's own path, once a
    queue has stored a copy), a list of those for a ``multiple`` parameter.
    """

    model: str
    params: Mapping[str, Any]
    given: frozenset[str] = frozenset()
    inputs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        return str(self.params.get("prompt") or "")

    @property
    def seed(self) -> int | None:
        return self.params.get("seed")

    def get(self, name: str, default: Any = None) -> Any:
        value = self.params.get(name)
        return default if value is None else value

    def to_dict(self) -> dict[str, Any]:
        out = {"schema": SCHEMA_VERSION, "model": self.model, "params": dict(self.params), "given": sorted(self.given)}
        if self.inputs:
            out["inputs"] = dict(self.inputs)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationRequest:
        """The inverse of :meth:`to_dict`; a request queued before ``given`` existed has none
        (it was sized at its door already, so nothing depends on it afterwards)."""
        if not isinstance(data, Mapping) or "model" not in data or not isinstance(data.get("params"), Mapping):
            raise UserError("a request needs 'model' and a 'params' object")
        given = data.get("given") or ()
        if not isinstance(given, (list, tuple)) or not all(isinstance(name, str) for name in given):
            raise UserError("a request's 'given' must be a list of parameter names")
        inputs = data.get("inputs") or {}
        if not isinstance(inputs, Mapping):
            raise UserError("a request's 'inputs' must be an object")
        return cls(model=str(data["model"]), params=dict(data["params"]), given=frozenset(given), inputs=dict(inputs))


class CancelToken:
    """Set from another thread (Ctrl-C, the control channel); checked at every step."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise JobCancelled(self.reason or "cancelled")


@dataclass
class GenerationContext:
    """Handed to :meth:`LoadedModel.generate`.

    Call ``step(i, total)`` after every denoising step (``i`` counts from 1): it
    reports progress and raises :class:`JobCancelled` when the job was cancelled,
    which a diffusers step callback turns into a hard stop.  ``step_hooks`` are
    called as ``hook(model, i, total)`` before the event (adapters use them for
    per-step weights).
    """

    job: str
    cancel: CancelToken
    emit: Callable[..., None]
    plan: LoadPlan = field(default_factory=LoadPlan)
    step_hooks: list[Callable[[Any, int, int], None]] = field(default_factory=list)

    def step(self, i: int, total: int, model: Any = None, **fields: Any) -> None:
        self.cancel.raise_if_cancelled()
        for hook in self.step_hooks:
            hook(model, i, total)
        self.emit("step", step=i, total=total, **fields)

    def warn(self, message: str) -> None:
        self.emit("job.warning", message=message)


# --------------------------------------------------------------------------- results


@dataclass
class AudioTrack:
    """Audio samples (float32 ``[samples, channels]`` in -1..1) and what is known of them."""

    samples: Any
    sample_rate: int
    language: str | None = None
    #: Codec of the source this track came from, when it came from a file.
    codec: str | None = None
    title: str | None = None

    @property
    def channels(self) -> int:
        shape = getattr(self.samples, "shape", (0, 1))
        return int(shape[1]) if len(shape) > 1 else 1

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate) if self.sample_rate else 0.0


@dataclass
class GenerationResult:
    """What a model produced. Any of the media fields may be empty."""

    #: uint8 frames ``[T, H, W, 3]``.
    video: Any = None
    fps: float | None = None
    #: uint8 images ``[H, W, 3]`` or ``[H, W, 4]``.
    images: list[Any] = field(default_factory=list)
    audio: list[AudioTrack] = field(default_factory=list)
    #: float32 alpha mattes ``[T, H, W]`` in 0..1.
    mattes: Any = None
    #: Free-form, JSON-serialisable; becomes the job outcome's ``metadata``.  A family may set
    #: ``metadata["audio_tracks"]``: one dict per ``audio`` entry, in order; the runner fills
    #: each dict's ``path`` with the file the audio writer wrote for that track.
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Artifact role the video writer gives ``video`` (e.g. ``mask_foreground``).  ``None``:
    #: the frames only feed other writers (the RGBA mattes) and no video file is written.
    video_role: str | None = "video"
    #: Further videos by artifact role (e.g. ``{"greenscreen": frames}``): uint8
    #: ``[T, H, W, 3]`` at ``fps``, written by the video writer without audio.
    extra_videos: dict[str, Any] = field(default_factory=dict)

    def kinds(self) -> set[str]:
        out = set()
        if (self.video is not None and len(self.video)) or self.extra_videos:
            out.add("video")
        if self.images:
            out.add("image")
        if self.audio:
            out.add("audio")
        if self.mattes is not None:
            out.add("mattes")
        return out


@dataclass
class Artifact:
    """A file a job produced, as recorded in events, manifests and job results."""

    role: str
    path: str
    media_type: str
    sha256: str
    bytes: int
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "role": self.role,
            "path": self.path,
            "media_type": self.media_type,
            "sha256": self.sha256,
            "bytes": self.bytes,
        }
        out.update(self.metadata)
        return out


@dataclass
class ProgressEvent:
    """One event on the progress channel; ``to_dict`` gives the JSON contract."""

    event: str
    job: str | None = None
    ts: float = field(default_factory=time.time)
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema": SCHEMA_VERSION, "event": self.event, "job": self.job, "ts": self.ts}
        out.update(self.fields)
        return out


# --------------------------------------------------------------------------- writers and sinks


class OutputContext(Protocol):
    """The single place writers put files (the host's media persistence).

    ``persist`` names the file from the job's template (``tag`` is appended to
    the name, e.g. an image's index; ``beside`` names it after another artifact's
    file instead, e.g. ``clip.mp4`` -> ``clip.mp4.json``), lets ``write(tmp_path)``
    fill a temporary file, then moves it into place atomically without replacing
    any existing file, hashes it and emits an ``artifact`` event.  Writers never
    open output paths themselves.
    """

    #: ``embedded``, ``json`` or ``none``.
    metadata_mode: str
    #: The generation record (request, seed, model, versions, adapters, timings).
    record: Mapping[str, Any]
    #: Writer options from the CLI and config (``video_codec``, ``crf``, ...).
    options: Mapping[str, Any]
    #: Artifacts written so far in this job, in order.
    artifacts: Sequence[Artifact]
    #: The job's output folder (as a ``pathlib.Path``).
    output_dir: Any

    def persist(
        self,
        role: str,
        suffix: str,
        media_type: str,
        write: Callable[[Any], None],
        metadata: Mapping[str, Any] | None = None,
        tag: str | None = None,
        beside: Artifact | None = None,
    ) -> Artifact: ...


class Writer(ABC):
    """Writes the parts of a result it accepts (``kinds``) through an OutputContext."""

    name: ClassVar[str]
    #: Result kinds this writer accepts: ``video``, ``image``, ``audio``, ``mattes``, ``artifacts``.
    kinds: ClassVar[frozenset[str]]
    description: ClassVar[str] = ""
    #: Writers run in ascending order; ``artifacts`` writers (manifests) run after media.
    order: ClassVar[int] = 100

    @abstractmethod
    def write(self, result: GenerationResult, output: OutputContext) -> None:
        """Write what this writer handles; raise ``OSError`` on I/O failure."""

    def discard(self, job: str, attempt: int, output_dir: Any, options: Mapping[str, Any]) -> None:
        """Remove what ``write`` recorded *outside* its artifacts for ``attempt`` of ``job``
        (``output.record["job"]`` and ``["attempt"]``), e.g. lines in a shared manifest.

        The host calls it before it deletes a job's files: when the job fails or is
        cancelled, and when queue recovery settles an attempt whose worker died, so
        no record is left naming a deleted file.  It may run for an attempt that wrote
        nothing, and more than once: it must be idempotent.  Raise ``OSError`` when it
        cannot; the host then keeps the files.  The default has nothing to remove.
        """


@dataclass(frozen=True)
class SinkOptions:
    """Per-run options for a progress sink."""

    #: A text stream (stdout/stderr) or a file path to append JSON lines to.
    target: Any = None
    #: Whether the sink's stream is an interactive terminal.
    tty: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


class ProgressSink(ABC):
    """Receives every event of a run; one instance per run."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def __init__(self, options: SinkOptions) -> None:
        self.options = options

    @abstractmethod
    def emit(self, event: ProgressEvent) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional to override
        """Flush and release resources at the end of the run."""


# --------------------------------------------------------------------------- adapters


@dataclass(frozen=True)
class AdapterOption:
    """A command-line option an adapter adds to ``wgp run`` and ``wgp queue add``.

    Its value reaches :meth:`Adapter.resolve` as ``options[name]`` (a tuple when
    ``multiple``, a bool when ``is_flag``, None when not given).
    """

    name: str
    flags: tuple[str, ...]
    help: str = ""
    multiple: bool = False
    is_flag: bool = False
    metavar: str | None = None


class Adapter(ABC):
    """Shapes a job (at submit time) or a loaded model (at run time).

    Life of a payload:

    1. ``resolve(request, options)`` at submit time turns what the user asked for
       into a JSON payload frozen into the job (None: the adapter is not used).
       ``options`` holds the adapter's own CLI options (see ``options`` below),
       the runtime config, ``family`` (the family name of ``request.model``) and
       ``spec`` (its :class:`ModelSpec`).
    2. ``prime(request, payload, context)`` in the worker, before the generation
       model is loaded: the place for work that needs a model of the adapter's
       own (e.g. an LLM).  It returns the completed payload, which the runner
       stores in the job's record, so a replay never does that work again.
    3. ``transform(request, payload)`` returns the request to generate with.
    4. ``apply(model, payload, context)`` returns a context manager that applies
       the payload to the loaded model around ``generate`` and undoes it, so a
       cached model stays clean.  Families that support weight adapters expose
       their diffusers pipeline as ``model.pipe``.

    A worker replays a job from its payloads alone, without discovery or global state.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    #: Options this adapter adds to ``wgp run`` / ``wgp queue add``.
    options: ClassVar[tuple[AdapterOption, ...]] = ()
    #: Settings-file keys this adapter takes (WanGP's ``activated_loras``): a ``--settings``
    #: file's value for one reaches ``resolve`` in ``options`` under that name, not the request.
    settings_keys: ClassVar[tuple[str, ...]] = ()

    def resolve(self, request: GenerationRequest, options: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Return this adapter's payload for the job, or None when it is not used."""
        return None

    def prime(
        self, request: GenerationRequest, payload: Mapping[str, Any], context: GenerationContext
    ) -> Mapping[str, Any] | None:
        """Complete the payload before the generation model is loaded; None keeps it as is."""
        return None

    def transform(self, request: GenerationRequest, payload: Mapping[str, Any]) -> GenerationRequest:
        """Return the request to generate with (e.g. with an enhanced prompt)."""
        return request

    def apply(
        self, model: LoadedModel, payload: Mapping[str, Any], context: GenerationContext
    ) -> ContextManager[None] | None:
        """Return a context manager that applies the payload and undoes it, or None."""
        return None
