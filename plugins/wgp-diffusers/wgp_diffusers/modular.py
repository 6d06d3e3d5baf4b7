"""A loaded diffusers *Modular* pipeline as a family sees it: load, generate, unload, written once.

Usage (a family on Modular Diffusers)::

    class MiniMaxH3Model(ModularDiffusersModel):
        image_arguments = {"image_start": "image", "image_end": "last_image"}
        outputs = ("videos", "audio", "sampling_rate")

        @staticmethod
        def modular_class(spec):                  # the ModularPipeline subclass
            return diffusers.MiniMaxH3ModularPipeline

        @staticmethod
        def workflow(spec):                       # or None: every component of the blocks
            return "t2va"

        @staticmethod
        def pipeline_kwargs(params, images=None):  # the pipeline call, minus generator
            return {"prompt": ..., "num_inference_steps": ..., "output_type": "np"}

        def result(self, outputs, params):        # outputs: {name: value} for ``outputs``
            return GenerationResult(video=to_uint8_video(outputs["videos"]), audio=[audio_track(...)])

    # pipeline.py
    def load(spec, plan): return MiniMaxH3Model.load(spec, plan)
    # plugin.py, torch-free
    FAMILY = define_modular_family("minimax", "wgp_minimax", MODELS, check=check)

A Modular pipeline is built from blocks (``ModularPipeline.from_pretrained(location,
workflow=...)``, which reads ``modular_model_index.json`` or a classic ``model_index.json``)
and its weights are loaded afterwards (``load_components``).  What differs from the classic
base (:class:`~wgp_diffusers.DiffusersModel`):

* **steps**: modular denoise loops do not call ``callback_on_step_end``.  Every
  ``LoopSequentialPipelineBlocks`` in the blocks tree gets its ``loop_step`` wrapped
  (:func:`report_steps`): before a step it records the step's timestep (caches that follow the
  timestep read :attr:`ModularDiffusersModel.current_timestep`), after it it calls
  ``context.step`` (progress event; :class:`~wgp_hookspecs.JobCancelled` propagates, so a
  cancel stops at the next step and nothing is decoded or written);
* **levers** reuse :mod:`wgp_diffusers.levers` on the family's :attr:`denoisers` (by default
  ``transformer``): step caches, attention backend, compile, fp8 storage; quantization,
  ``--transformer-file``, calibrated MagCache and ``--offload auto|sequential`` are refused at the
  door (:func:`check_modular_plan`) until a modular family needs them; a loop that opens no step-cache
  context gets one per step (:attr:`ModularDiffusersModel.cache_context`);
* **loading**: a component the family loads itself is set before the others are loaded
  (:meth:`ModularDiffusersModel.prepare_components`); one that fails is a one-line error;
* **offload**: ``none`` (``pipe.to``), ``model`` (a diffusers ``ComponentsManager`` with auto CPU
  offload) or ``group`` (``enable_group_offload`` on each component that supports it);
* **VAE tiling** is left as the VAE loads unless ``--vae-tiling`` is given (some modular models,
  MiniMax-H3, ship with tiling on and their released frames are the tiled ones).

Importing this module is cheap (no torch or diffusers), like :mod:`wgp_diffusers.family`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from wgp_hookspecs import (
    AudioTrack,
    GenerationContext,
    GenerationRequest,
    GenerationResult,
    JobCancelled,
    LoadPlan,
    ModelFamily,
    ModelSpec,
    UserError,
)

from . import diffusion, levers, sizing
from .family import DiffusersModel, define_family

#: The index file a saved Modular pipeline writes (a classic ``model_index.json`` loads too).
MODULAR_INDEX = "modular_model_index.json"

#: Plan options the modular base does not apply yet (their value when off, their flag): refused at
#: the door rather than silently ignored.
_UNSUPPORTED = {
    "quantize": ("none", "--quantize"),
    "quantize_text_encoder": ("none", "--quantize-text-encoder"),
    "transformer_file": (None, "--transformer-file"),
}


class ModularDiffusersModel(DiffusersModel):
    """A loaded diffusers ``ModularPipeline``, kept in the runner's cache between jobs.

    Subclasses implement :meth:`modular_class`, :meth:`pipeline_kwargs` and usually
    :meth:`result`; optional: :meth:`workflow` (load one workflow's components only),
    :meth:`load_inputs` (media parameters -> pipeline arguments), :attr:`denoisers`,
    :attr:`outputs`, and the hooks of :class:`~wgp_diffusers.DiffusersModel`
    (:meth:`check_layout`, :meth:`prepare`, :attr:`float32_components`, :attr:`safe_dtypes`).
    """

    #: Components the levers apply to (step cache, attention, compile, fp8 storage), in order.
    denoisers: ClassVar[tuple[str, ...]] = ("transformer",)
    #: The pipeline state values :meth:`result` receives.
    outputs: ClassVar[tuple[str, ...]] = ("videos",)
    #: The step-cache context a denoise step runs in, for loops that set none themselves (diffusers'
    #: classic pipelines name theirs ``cond``/``uncond``; of the modular loops, LTX's do, Wan's and
    #: MiniMax-H3's do not).  Right for a loop that calls its denoiser once per step (a
    #: guidance-distilled model); None leaves the contexts to the loop.
    cache_context: ClassVar[str | None] = None
    #: Modular pipelines encode the prompt inside their blocks: no text-encoder cache here.
    prompt_cache_size: ClassVar[int] = 0

    def __init__(self, spec: ModelSpec, plan: LoadPlan, pipe: Any, device: str, warnings: list[str] | None = None) -> None:
        super().__init__(spec, plan, pipe, device, warnings)
        #: The timestep of the step in progress (caches that follow the timestep read it).
        self.current_timestep: Any = None
        # levers read ``running_pipe.current_timestep``: this model keeps it (see report_steps).
        self.running_pipe = self
        self.components_manager: Any = None

    # ----------------------------------------------------------------- family hooks

    @staticmethod
    def modular_class(spec: ModelSpec) -> type:
        """The ``ModularPipeline`` subclass that loads ``spec`` (``diffusers.ModularPipeline``
        resolves it from the weights' index)."""
        import diffusers

        return diffusers.ModularPipeline

    @staticmethod
    def workflow(spec: ModelSpec) -> str | tuple[str, ...] | None:
        """The blocks' workflow(s) ``spec`` runs: one name prunes the blocks to it; several keep
        every block and load the components those workflows use (MiniMax-H3's ``t2va`` and
        ``fl2va`` share a transformer); None loads every component."""
        return None

    @classmethod
    def prepare_components(cls, pipe: Any, location: str) -> None:
        """Set components the family loads itself (``pipe.update_components``) before the rest
        are loaded from the weights; those already set are not loaded again."""

    @classmethod
    def pipeline_class(cls, spec: ModelSpec, with_image: bool = False) -> type:
        return cls.modular_class(spec)

    def load_inputs(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The request's media as pipeline arguments: by default the images of
        :attr:`image_arguments`, opened (and fitted) as the classic base does."""
        return diffusion.load_images(params, self.image_arguments, fit=self.crop_images)

    def result(self, outputs: Mapping[str, Any], params: Mapping[str, Any]) -> GenerationResult:  # type: ignore[override]
        """``outputs["videos"]`` (``output_type="np"``) as uint8 frames at ``params["fps"]``."""
        return GenerationResult(video=diffusion.to_uint8_video(outputs["videos"]), fps=float(params["fps"]))

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    def load(cls, spec: ModelSpec, plan: LoadPlan) -> ModularDiffusersModel:
        """Validate the plan, resolve the weights, build the blocks, load their components, place.

        The plan is refused before a weight is read (device, dtype, offload, levers); a
        component that fails to load is a one-line error, not diffusers' logged warning.
        """
        levers.check_plan(spec, plan)
        warnings = diffusion.validate_plan(plan, cls.safe_dtypes)
        device = diffusion.resolve_device(plan.device)
        warnings += levers.check_levers(plan, device)
        dtype = diffusion.resolve_dtype(plan.option("dtype", "auto"), device, cls.safe_dtypes)
        location = resolve_modular_weights(plan.weights or spec.weights)
        pipe = load_modular_pipeline(cls.modular_class(spec), location, cls.workflow(spec),
                                     diffusion.component_dtypes(dtype, cls.float32_components), cls.prepare_components)
        cls.check_layout(spec, pipe, location)
        view = DenoiserView(pipe, cls.denoisers)
        levers.apply_storage_dtype(view, plan, dtype)
        model = cls(spec, plan, pipe, device, warnings)
        model.components_manager = place(pipe, plan, device)
        levers.apply_levers(view, plan, lambda: model)
        model.weights_revision = diffusion.weights_revision(location)
        model.load_report = levers.lever_report(plan)
        return model

    def generate(self, request: GenerationRequest, context: GenerationContext) -> GenerationResult:
        """Run one request; ``context.step`` is called after every denoising step."""
        params, seed = self.begin(request, context)
        inputs = self.load_inputs(params)
        cropped = sizing.crops(params, self.image_arguments) if inputs and self.crop_images else {}
        pipe = self.pipe
        levers.reset_caches(DenoiserView(pipe, self.denoisers))
        self.prepare(pipe, params)
        tiling = self.plan.option("vae_tiling")
        if tiling is not None:  # None: as the VAE loads (see the module docstring)
            diffusion.apply_vae_tiling(pipe, tiling, params["width"], params["height"], self.auto_tiling_pixels)
        kwargs = self.pipeline_kwargs(params, inputs)
        cached = [m for _, m in levers.denoisers(DenoiserView(pipe, self.denoisers)) if getattr(m, "is_cache_enabled", False)]
        contexts = [m.cache_context for m in cached] if self.cache_context else []
        with report_steps(pipe, context, int(params["steps"]), self, contexts, self.cache_context), quiet_cancel():
            values = pipe(**kwargs, generator=diffusion.seeded_generator(seed, self.device), output=list(self.outputs))
        result = self.result(values, params)
        result.metadata.update({"seed": int(seed), "pipeline": type(pipe).__name__, "workflow": self.workflow(self.spec)})
        if tiling is not None:
            result.metadata["vae_tiling"] = bool(tiling)
        if cropped:
            result.metadata["image_crops"] = cropped
        return result

    def unload(self) -> None:
        """Drop the pipeline (and its offload hooks) and give its memory back."""
        if self.components_manager is not None:
            with contextlib.suppress(Exception):  # freeing memory must not fail the caller
                self.components_manager.disable_auto_cpu_offload()
            self.components_manager = None
        super().unload()


# --------------------------------------------------------------------------- registration


def check_modular_plan(spec: ModelSpec | None, plan: LoadPlan) -> None:
    """The levers the modular base does not apply yet, refused (one line each) instead of being
    silently ignored; :func:`wgp_diffusers.levers.check_plan` calls it at the door for every model
    whose spec has the ``modular`` option (each model of :func:`define_modular_family`, and a
    modular model inside a classic family, such as Wan Animate 2)."""
    for name, (off, flag) in _UNSUPPORTED.items():
        if plan.option(name, off) not in (off, None):
            raise UserError(f"{flag} is not supported yet for Modular-pipeline models ({spec.id if spec else 'this model'})")
    if plan.option("offload", "none") in ("auto", "sequential"):
        raise UserError(f"--offload {plan.option('offload')} is not supported yet for Modular-pipeline models; "
                        "use none, model or group")
    if levers.uses_calibration(plan):
        raise UserError("calibrated magcache is not supported yet for Modular-pipeline models; "
                        "pass --cache-option mag_ratios=[...] or use another cache")


def define_modular_family(name: str, package: str, models: tuple[ModelSpec, ...], **kwargs: Any) -> ModelFamily:
    """:func:`wgp_diffusers.define_family` for a family on :class:`ModularDiffusersModel`
    (``PACKAGE.pipeline:load``, ``PACKAGE.tiny:build_tiny``); each model gets the ``modular``
    option, so the door applies the modular plan check."""
    models = tuple(dataclasses.replace(m, options={**m.options, "modular": True}) for m in models)
    return define_family(name, package, models, **kwargs)


# --------------------------------------------------------------------------- weights and loading


def resolve_modular_weights(location: str | None) -> str:
    """:func:`wgp_diffusers.diffusion.resolve_weights` for a folder that a Modular pipeline saved
    (``modular_model_index.json`` and no classic ``model_index.json``): safetensors only too."""
    path = Path(str(location or "")).expanduser()
    if path.is_dir() and (path / MODULAR_INDEX).is_file() and not (path / "model_index.json").is_file():
        try:
            diffusion.check_local_weights(path)
        except UserError as exc:
            # The pickle check runs first and raises its own error; only the classic index is missing here.
            if "no model_index.json" not in str(exc):
                raise
        return str(path.resolve())
    return diffusion.resolve_weights(location)


def load_modular_pipeline(pipeline_class: type, location: str, workflow: str | tuple[str, ...] | None, dtype: Any,
                          prepare: Callable[[Any, str], None] | None = None) -> Any:
    """``pipeline_class.from_pretrained(location, workflow=...)``, ``prepare(pipe, location)`` (see
    :meth:`ModularDiffusersModel.prepare_components`) and ``load_components`` for the rest
    (safetensors only, ``dtype`` per component), progress bars off.  ``workflow``: see
    :meth:`ModularDiffusersModel.workflow`.

    diffusers logs a component that fails to load and carries on; here it is a
    :class:`UserError` naming the components and the first cause.
    """
    import torch
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    failures: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            if text.startswith("Failed to"):
                failures.append(text.strip().splitlines()[-1])

    logger = logging.getLogger("diffusers.modular_pipelines.modular_pipeline")
    handler, propagate = Capture(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # captured and reported in one line, not printed with a traceback
    try:
        with diffusion.quiet_progress_bars():
            pipe = pipeline_class.from_pretrained(location, workflow=workflow if isinstance(workflow, str) else None)
            names = pipe.pretrained_component_names
            if workflow and not isinstance(workflow, str):
                used = {spec.name for name in workflow for spec in pipe._blocks.get_workflow(name).expected_components}
                names = [name for name in names if name in used]
            if prepare is not None:
                prepare(pipe, location)
            names = [name for name in names if getattr(pipe, name, None) is None]
            models = [name for name, spec in pipe._component_specs.items()
                      if isinstance(spec.type_hint, type) and issubclass(spec.type_hint, torch.nn.Module)]
            pipe.load_components(names=list(names), dtype=dtype, use_safetensors={name: True for name in models})
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise UserError(f"cannot load weights from {location}: {diffusion._first_line(exc)}") from exc
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    missing = [name for name in names if getattr(pipe, name, None) is None]
    if missing:
        cause = f" ({failures[0]})" if failures else ""
        raise UserError(f"cannot load weights from {location}: component(s) {', '.join(missing)} did not load{cause}")
    set_progress_bars(pipe, disable=True)
    return pipe


def place(pipe: Any, plan: LoadPlan, device: str) -> Any:
    """Put a loaded Modular pipeline where ``plan.offload`` says; returns the
    ``ComponentsManager`` that offloads it (``model``), else None."""
    import torch

    offload = str(plan.option("offload", "none")).strip().lower()
    if offload == "model" and device.split(":")[0] == "cpu":
        # Nothing to move to: diffusers' ComponentsManager needs an accelerator's memory figures
        # (validate_plan has warned that model offload on a CPU saves nothing).
        offload = "none"
    if offload == "model":
        from diffusers import ComponentsManager

        manager = ComponentsManager()
        for name, component in pipe.components.items():
            if isinstance(component, torch.nn.Module):
                manager.add(name, component)
        manager.enable_auto_cpu_offload(device=device)
        pipe._components_manager = manager
        return manager
    if offload == "group":
        for component in pipe.components.values():
            if callable(getattr(component, "enable_group_offload", None)) and getattr(component, "_supports_group_offloading", True):
                component.enable_group_offload(**diffusion.group_offload_kwargs(plan, device))
            elif isinstance(component, torch.nn.Module):
                component.to(device)
        return None
    pipe.to(device)  # none (check_plan refused the rest)
    return None


class DenoiserView:
    """The family's denoisers under the attribute names :mod:`wgp_diffusers.levers` looks up
    (``transformer``, ``transformer_2``, ...), so the levers apply unchanged to a component
    named otherwise (MiniMax-H3's ``transformer_ref``)."""

    def __init__(self, pipe: Any, names: tuple[str, ...]) -> None:
        for slot, name in zip(levers.DENOISERS, names):
            setattr(self, slot, getattr(pipe, name, None))


# --------------------------------------------------------------------------- steps


def loop_blocks(blocks: Any) -> list[Any]:
    """Every ``LoopSequentialPipelineBlocks`` (a denoise loop) in a blocks tree, depth first."""
    from diffusers.modular_pipelines import LoopSequentialPipelineBlocks

    found: list[Any] = []
    if isinstance(blocks, LoopSequentialPipelineBlocks):
        return [blocks]
    for block in (getattr(blocks, "sub_blocks", None) or {}).values():
        found += loop_blocks(block)
    return found


def running_blocks(pipe: Any) -> Any:
    """The blocks ``pipe`` runs: ``ModularPipeline.blocks`` returns a deep copy, and only the
    pipeline's own blocks (``_blocks``, which its ``__call__`` runs) can be hooked."""
    return pipe._blocks


def set_progress_bars(pipe: Any, disable: bool = True) -> None:
    """Switch every denoise loop's tqdm bar (``ModularPipeline.set_progress_bar_config`` reaches
    only the top-level blocks): the host reports steps itself."""
    pipe.set_progress_bar_config(disable=disable)
    for loop in loop_blocks(running_blocks(pipe)):
        loop.set_progress_bar_config(disable=disable)


@contextlib.contextmanager
def report_steps(pipe: Any, context: GenerationContext, total: int, clock: Any = None,
                 cache_contexts: list[Callable[[str], Any]] = (), context_name: str | None = None) -> Iterator[None]:
    """For the duration, each step of every denoise loop of ``pipe`` records its timestep on
    ``clock.current_timestep`` before it runs and calls ``context.step(i + 1, total)`` after
    (which raises :class:`~wgp_hookspecs.JobCancelled` on a cancel: the run stops there, before
    any decode).  ``total`` is the loop's own step count where its state says it.  Each step
    runs inside ``cache_context(context_name)`` of ``cache_contexts`` (the denoisers' step-cache
    contexts, for loops that set none)."""
    loops = loop_blocks(running_blocks(pipe))
    for loop in loops:
        loop.loop_step = _reporting_step(loop.loop_step, context, total, clock, pipe, list(cache_contexts), context_name)
    try:
        yield
    finally:
        for loop in loops:
            loop.__dict__.pop("loop_step", None)  # back to the class's own method


def _reporting_step(step: Callable[..., Any], context: GenerationContext, total: int, clock: Any, pipe: Any,
                    cache_contexts: list[Callable[[str], Any]], context_name: str | None) -> Callable[..., Any]:
    def loop_step(components: Any, block_state: Any, **kwargs: Any) -> Any:
        if clock is not None:
            clock.current_timestep = kwargs.get("t")
        with contextlib.ExitStack() as stack:
            for enter in cache_contexts:
                stack.enter_context(enter(context_name))
            out = step(components, block_state, **kwargs)
        timesteps = getattr(block_state, "timesteps", None)
        steps = len(timesteps) if timesteps is not None and hasattr(timesteps, "__len__") else total
        context.step(int(kwargs.get("i", 0)) + 1, steps, model=pipe)
        return out

    return loop_step


@contextlib.contextmanager
def quiet_cancel() -> Iterator[None]:
    """Each level of a Modular pipeline logs an exception with its traceback before re-raising it;
    a cancel is not an error, so those records are dropped while a :class:`JobCancelled` unwinds."""

    def keep(record: logging.LogRecord) -> bool:
        return not isinstance(sys.exc_info()[1], JobCancelled)

    logger = logging.getLogger("diffusers.modular_pipelines.modular_pipeline")
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def save_tiny_modular(pipe: Any, folder: str | Path) -> None:
    """Write a Modular pipeline (components set with ``update_components``) to ``folder`` with
    safetensors and a ``modular_model_index.json`` that points at ``folder``: it loads back with
    ``ModularPipeline.from_pretrained(folder)`` (the tiny-model counterpart of
    :func:`wgp_diffusers.tiny.save_tiny_pipeline`)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    with diffusion.quiet_progress_bars():
        pipe.save_pretrained(str(folder), safe_serialization=True, overwrite_modular_index=True)


# --------------------------------------------------------------------------- outputs


def audio_track(samples: Any, sample_rate: int) -> AudioTrack:
    """A pipeline's audio (``[batch, channels, samples]`` with batch 1, ``[channels, samples]`` or
    ``[samples]``; a tensor or an array) as an :class:`~wgp_hookspecs.AudioTrack`: float32
    ``[samples, channels]`` clipped to -1..1."""
    import numpy as np

    if hasattr(samples, "detach"):
        samples = samples.detach().float().cpu().numpy()
    array = np.asarray(samples, dtype=np.float32)
    if array.ndim == 3:
        array = array[0]
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2:
        raise ValueError(f"expected audio [batch, channels, samples], [channels, samples] or [samples], got {array.shape}")
    return AudioTrack(samples=np.ascontiguousarray(np.clip(array.T, -1.0, 1.0)), sample_rate=int(sample_rate))


__all__ = [
    "MODULAR_INDEX",
    "DenoiserView",
    "ModularDiffusersModel",
    "audio_track",
    "check_modular_plan",
    "define_modular_family",
    "load_modular_pipeline",
    "loop_blocks",
    "place",
    "quiet_cancel",
    "report_steps",
    "resolve_modular_weights",
    "save_tiny_modular",
    "set_progress_bars",
]
