"""A loaded diffusers model as a family sees it: load, generate, unload, written once.

Every diffusers family does the same things in the same order: validate the
plan, resolve the weights, ``from_pretrained``, place the pipeline (dtype,
offload), and per request merge the defaults, open the conditioning images,
pick the pipeline, call it with a seeded generator and a step callback, and
convert its output.  :class:`DiffusersModel` does all of that; a family
subclasses it and says only what differs::

    class FluxModel(DiffusersModel):
        image_arguments = {"image_start": "image"}

        @staticmethod
        def pipeline_class(spec, with_image=False):
            return diffusers.FluxKontextPipeline if ... else diffusers.FluxPipeline

        @staticmethod
        def pipeline_kwargs(params, images=None):
            return {"prompt": params["prompt"], ...}

    # plugin.py, torch-free: load and build_tiny are imported on first use
    FLUX_FAMILY = define_family("flux", "wgp_flux", FLUX_MODELS, check=check)

:func:`define_family` and :func:`deferred` keep a family's registration free
of torch; :func:`standard_kwargs` is the part of a pipeline call every family
builds the same way; the request check a family runs before loading
(:func:`image_size`) is here too, and :func:`define_family` sizes requests from their images
(:mod:`wgp_diffusers.sizing`).  Importing this module is cheap (no
torch, diffusers or PIL), so a family's registration code may import it.
"""

from __future__ import annotations

import collections
import dataclasses
import importlib
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from wgp_hookspecs import (
    GenerationContext,
    GenerationRequest,
    GenerationResult,
    LoadPlan,
    ModelFamily,
    ModelSpec,
    Profile,
    UserError,
    resolve_seed,
)

from . import calibration, diffusion, levers, planner, sizing, stepping
from .dtypes import ANY_DTYPE
from .options import OPTION_GROUP

class DiffusersModel:
    """A loaded diffusers pipeline, kept in the runner's cache between jobs.

    Subclasses set :attr:`image_arguments`, :attr:`float32_components` and
    :attr:`auto_tiling_pixels` as needed, and implement :meth:`pipeline_class`
    and :meth:`pipeline_kwargs` (usually as static methods that the family's
    tests also call, so a direct diffusers call is built the same way).
    Optional hooks: :meth:`check_layout` (refuse weights of another model) and
    :meth:`prepare` (configure the pipeline for one request, e.g. its scheduler).
    Request rules are not checked here: the parameter schema and the family's
    ``check`` run once, at the door, before a job is queued.
    """

    #: Image parameters -> pipeline arguments, e.g. ``{"image_start": "image"}``.
    image_arguments: ClassVar[Mapping[str, str]] = {}
    #: Components kept in float32 when the rest runs in half precision.
    float32_components: ClassVar[tuple[str, ...]] = ()
    #: Text-encoder outputs kept per loaded model (see :meth:`reuse_prompt_embeddings`); 0 turns it off.
    prompt_cache_size: ClassVar[int] = 8
    #: Components ``--quantize-text-encoder`` quantizes (transformers models).
    text_encoders: ClassVar[tuple[str, ...]] = ("text_encoder", "text_encoder_2")
    #: With VAE tiling on auto, outputs larger than this many pixels are decoded in tiles.
    auto_tiling_pixels: ClassVar[int] = diffusion.AUTO_TILING_PIXELS
    #: The dtypes this family is known to run right in (``bf16``, ``fp16``, ``fp32``): ``--dtype auto``
    #: chooses among them (float32 where the device has none), an explicit other one is warned
    #: about.  Undeclared: any, as before families declared theirs.
    safe_dtypes: ClassVar[tuple[str, ...]] = ANY_DTYPE
    #: The tokenizer whose limit (``max_sequence_length``) cuts long prompts: its cuts are reported
    #: (:meth:`prompt_warnings`); None reports nothing.
    prompt_tokenizer: ClassVar[str | None] = "tokenizer"
    #: Whether the images of :attr:`image_arguments` are centre-cropped to the output's aspect ratio and
    #: resized to it (:func:`~wgp_diffusers.sizing.prepare_image`); False where the pipeline takes an
    #: image at its own size (FLUX Kontext's reference).
    crop_images: ClassVar[bool] = True

    def __init__(self, spec: ModelSpec, plan: LoadPlan, pipe: Any, device: str, warnings: list[str] | None = None) -> None:
        self.spec = spec
        self.plan = plan
        self.device = device
        self.pipe = pipe
        #: Plan warnings, reported on the first generation (load has no event channel).
        self.warnings = list(warnings or [])
        # A model that runs with and without an image (text- or image-to-video) keeps
        # a second pipeline over the same components.
        self._pipelines: dict[type, Any] = {type(pipe): pipe}
        self._offload_owner: Any = pipe
        #: What the weights were (see :func:`~wgp_diffusers.diffusion.weights_revision`); the record keeps it.
        self.weights_revision: str | None = None
        #: The levers as applied, the library versions and reproducibility; the record keeps it.
        self.load_report: dict[str, Any] = {}
        #: The pipeline of the generation in progress (step caches follow its timestep).
        self.running_pipe: Any = pipe
        self._prompt_cache: collections.OrderedDict[Any, dict[str, Any]] = collections.OrderedDict()
        #: The step count calibrated MagCache is set up for (see :func:`~wgp_diffusers.calibration.apply_calibrated_magcache`).
        self.magcache_steps: int | None = None

    # ----------------------------------------------------------------- family hooks

    @staticmethod
    def pipeline_class(spec: ModelSpec, with_image: bool = False) -> type:
        """The diffusers pipeline class for ``spec`` (and for a request with or without images)."""
        raise NotImplementedError

    @staticmethod
    def pipeline_kwargs(params: Mapping[str, Any], images: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The diffusers call's keyword arguments for one request, minus generator and callback."""
        raise NotImplementedError

    @staticmethod
    def check_layout(spec: ModelSpec, pipe: Any, location: str) -> None:
        """Raise :class:`UserError` when the loaded weights are not ``spec``'s layout."""

    @classmethod
    def preloaded_components(cls, spec: ModelSpec, location: str) -> dict[str, Any]:
        """Components the family loads itself, given to ``from_pretrained`` (which then does not
        load them): e.g. a processor transformers cannot load without torchvision
        (:mod:`wgp_diffusers.processors`).  Called after the plan is checked."""
        return {}

    def prepare(self, pipe: Any, params: Mapping[str, Any]) -> None:
        """Configure ``pipe`` for one request just before it is called."""

    def denoising_steps(self, params: Mapping[str, Any]) -> int:
        """The denoising steps the pipeline runs for ``params``, which the job's progress counts to:
        ``steps``; an image-to-image call whose ``strength`` skips the first steps runs fewer."""
        return int(params["steps"])

    def prompt_warnings(self, pipe: Any, kwargs: Mapping[str, Any]) -> list[str]:
        """A warning for each prompt of the call longer than the text encoder takes: the pipeline
        would cut it silently (diffusers only logs), so the job says how many tokens were cut."""
        tokenizer = getattr(pipe, self.prompt_tokenizer, None) if self.prompt_tokenizer else None
        if tokenizer is None:
            return []
        limit = kwargs.get("max_sequence_length")
        if limit is None:  # the call leaves it to the pipeline's own default
            limit = inspect.signature(type(pipe).__call__).parameters.get("max_sequence_length")
            limit = None if limit is None else limit.default
        if not isinstance(limit, int):
            return []
        out = []
        for name in ("prompt", "negative_prompt"):
            text = kwargs.get(name)
            cut = diffusion.tokens_cut(tokenizer, text, limit) if isinstance(text, str) else 0
            if cut:
                out.append(f"{name} is {cut + limit} tokens but the text encoder takes {limit} (max_sequence_length): "
                           f"its last {cut} tokens are cut")
        return out

    def encodes_negative(self, kwargs: Mapping[str, Any]) -> bool:
        """Whether the pipeline call ``kwargs`` encodes a negative prompt too (classifier-free
        guidance is on): diffusers' ``guidance_scale > 1`` rule; a family whose guidance scale is
        distilled (embedded in the transformer) says otherwise."""
        return float(kwargs.get("guidance_scale", 1.0)) > 1.0

    def encode_prompt(self, pipe: Any, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """The text-encoder outputs for the call ``kwargs``, as the pipeline's embedding arguments
        (e.g. ``{"prompt_embeds": ..., "negative_prompt_embeds": ...}``), or None when this
        family does not precompute them.  They must be exactly what the pipeline would compute."""
        return None

    def reuse_prompt_embeddings(self, pipe: Any, kwargs: dict[str, Any], context: GenerationContext) -> dict[str, Any]:
        """Swap the prompts for cached text-encoder outputs, so a sweep over seeds or steps encodes
        each prompt once.  Keyed by pipeline, prompts, guidance on/off and the call's other text
        arguments; at most :attr:`prompt_cache_size` entries, least recently used evicted."""
        if not self.prompt_cache_size or _text_encoder_adapted(pipe):
            # An adapter in the text encoder (a LoRA with text-encoder layers) changes its
            # outputs without changing the key: encode as the pipeline would.
            return kwargs
        text_args = {k: v for k, v in kwargs.items() if k in _PROMPT_ARGUMENTS}
        key = (type(pipe).__name__, tuple(sorted(text_args.items())), self.encodes_negative(kwargs))
        cached = key in self._prompt_cache
        if cached:
            self._prompt_cache.move_to_end(key)
            embeddings = self._prompt_cache[key]
        else:
            embeddings = self.encode_prompt(pipe, kwargs)
            if embeddings is None:
                return kwargs
            self._prompt_cache[key] = embeddings
            while len(self._prompt_cache) > self.prompt_cache_size:
                self._prompt_cache.popitem(last=False)
        context.emit("prompt.embeddings", cached=cached, entries=len(self._prompt_cache))
        return {**{k: v for k, v in kwargs.items() if k not in ("prompt", "negative_prompt")}, **embeddings}

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    def load(cls, spec: ModelSpec, plan: LoadPlan) -> DiffusersModel:
        """Load ``spec`` as ``plan`` says: validate the plan, resolve weights, from_pretrained, place.

        Everything that can be refused (device, offload, dtype, missing or
        pickled weights) is refused before a weight is read.
        """
        warnings = diffusion.validate_plan(plan, cls.safe_dtypes)
        levers.check_cache(spec, plan.option("cache", "none"))  # the door's rule, for plans it did not see
        device = diffusion.resolve_device(plan.device)
        warnings += levers.check_levers(plan, device)
        dtype = diffusion.resolve_dtype(plan.option("dtype", "auto"), device, cls.safe_dtypes)
        location = diffusion.resolve_weights(plan.weights or spec.weights)
        dtypes = diffusion.component_dtypes(dtype, cls.float32_components)
        pipeline_class = cls.pipeline_class(spec)
        if levers.uses_calibration(plan):  # the ratios belong to these exact weights
            calibration.check_calibration(plan, spec.id, diffusion.weights_revision(location), pipeline_class.load_config(location))
        quantization = levers.quantization_config(plan, pipeline_class, location, cls.text_encoders)
        extra = {"quantization_config": quantization} if quantization is not None else {}
        transformer = levers.load_transformer_file(plan, pipeline_class, location, dtype)
        if transformer is not None:
            extra["transformer"] = transformer
        extra.update(cls.preloaded_components(spec, location))
        pipe = diffusion.load_pipeline(pipeline_class, location, dtypes, **extra)
        cls.check_layout(spec, pipe, location)
        # Storage casting before placement, so offloaded copies are stored small too.
        levers.apply_storage_dtype(pipe, plan, dtype)
        decision = None
        quantized_encoders: list[str] = []
        if plan.option("offload") == "auto":
            # The weights are in RAM, not yet on the device: measured, planned, then placed.
            decision = planner.plan_offload(
                planner.component_sizes(pipe),
                planner.cap_memory(planner.measure_memory(device), planner.parse_size(plan.option("max_memory")) if plan.option("max_memory") else None),
                allow_text_encoder_quantization=plan.option("quantize_text_encoder") == "auto",
                # int8 weight-only: one byte per weight instead of the dtype's
                text_encoder_quantized_ratio=min(1.0, 1 / torch_dtype_bytes(dtype)),
                blocks_per_group=int(plan.option("offload_blocks", 1)),
                streams=plan.option("offload_stream"),
            )
            plan = dataclasses.replace(plan, options={**plan.options, "offload": decision.mode})
            warnings.append(f"offload auto: {decision.reason}")
            if decision.quantize_text_encoder:
                quantized_encoders = levers.quantize_text_encoders(pipe, cls.text_encoders)
        diffusion.apply_offload(pipe, plan, device)
        model = cls(spec, plan, pipe, device, warnings)
        levers.apply_levers(pipe, plan, lambda: model.running_pipe)
        model.weights_revision = diffusion.weights_revision(location)
        model.load_report = levers.lever_report(plan)
        if decision is not None:
            model.load_report["offload_auto"] = decision.to_dict()
        if plan.option("quantize_text_encoder") == "auto":
            model.load_report["quantize_text_encoder_applied"] = levers.AUTO_TEXT_ENCODER_QUANTIZE if quantized_encoders else "none"
        return model

    def pipeline_for(self, with_image: bool) -> Any:
        """The pipeline that runs a request with (or without) conditioning images.

        A second pipeline class is built once from the loaded one's components
        (and the config values its constructor takes), so no weight is loaded twice.
        """
        cls = self.pipeline_class(self.spec, with_image)
        pipe = self._pipelines.get(cls)
        if pipe is None:
            base = self.pipe
            accepted = inspect.signature(cls.__init__).parameters
            config = {k: base.config[k] for k in accepted if k in base.config and k not in base.components}
            pipe = cls(**base.components, **config)
            pipe.set_progress_bar_config(disable=True)
            self._pipelines[cls] = pipe
        if pipe is not self._offload_owner and self.plan.option("offload", "none") == "model":
            # Model offload chains hooks through one pipeline's components in its order;
            # re-chain them for the pipeline about to run.
            pipe.enable_model_cpu_offload(device=self.device)
            self._offload_owner = pipe
        return pipe

    def begin(self, request: GenerationRequest, context: GenerationContext) -> tuple[dict[str, Any], int]:
        """The start of every ``generate`` (classic and modular): the load's warnings reported once,
        the request over the model's defaults, and the seed."""
        if self.pipe is None:
            raise RuntimeError(f"{self.spec.id} was unloaded")
        for warning in self.warnings:
            context.warn(warning)
        self.warnings.clear()
        params = {**self.spec.defaults(), **{k: v for k, v in request.params.items() if v is not None}}
        return params, resolve_seed(params.get("seed"))

    def generate(self, request: GenerationRequest, context: GenerationContext) -> GenerationResult:
        """Run one request; ``context.step`` is called after every denoising step."""
        params, seed = self.begin(request, context)
        images = diffusion.load_images(params, self.image_arguments, fit=self.crop_images)
        cropped = sizing.crops(params, self.image_arguments) if images and self.crop_images else {}
        pipe = self.pipeline_for(bool(images))
        self.running_pipe = pipe
        interpolated = calibration.apply_calibrated_magcache(self, int(params["steps"]))
        if interpolated:
            context.warn(interpolated)
        levers.reset_caches(pipe)
        self.prepare(pipe, params)
        tiled = diffusion.apply_vae_tiling(pipe, self.plan.option("vae_tiling"), params["width"], params["height"], self.auto_tiling_pixels)
        kwargs = self.pipeline_kwargs(params, images)
        for warning in self.prompt_warnings(pipe, kwargs):
            context.warn(warning)
        # Pipelines without callback_on_step_end (HunyuanVideo 1.5) report from their scheduler's step.
        with stepping.reporting_steps(pipe, diffusion.step_callback(context, self.denoising_steps(params))) as on_step:
            output = pipe(
                **self.reuse_prompt_embeddings(pipe, kwargs, context),
                generator=diffusion.seeded_generator(seed, self.device),
                **on_step,
            )
        result = self.result(output, params)
        result.metadata.update({"seed": int(seed), "pipeline": type(pipe).__name__, "vae_tiling": tiled})
        if cropped:
            result.metadata["image_crops"] = cropped
        return result

    def result(self, output: Any, params: Mapping[str, Any]) -> GenerationResult:
        """A video pipeline's ``frames`` (at ``params["fps"]``) or an image pipeline's ``images``, as uint8."""
        if getattr(output, "frames", None) is not None:
            return GenerationResult(video=diffusion.to_uint8_video(output.frames), fps=float(params["fps"]))
        return GenerationResult(images=diffusion.to_uint8_images(output.images))

    def unload(self) -> None:
        """Drop the pipelines and give their memory back."""
        pipes = list(self._pipelines.values())
        self._pipelines.clear()
        self._prompt_cache.clear()
        self.pipe = None
        self._offload_owner = None
        for pipe in pipes:
            diffusion.release_pipeline(pipe, self.device)
        del pipes
        diffusion.release_pipeline(None, self.device)


#: The call arguments the text-encoder outputs depend on (besides guidance on/off): the cache key.
_PROMPT_ARGUMENTS = ("prompt", "negative_prompt", "max_sequence_length", "num_images_per_prompt", "num_videos_per_prompt")


def torch_dtype_bytes(dtype: Any) -> int:
    """Bytes per element of a torch dtype (``torch.float32`` -> 4), or of the ``default`` of a per-component dtype map."""
    if isinstance(dtype, Mapping):
        dtype = dtype.get("default")
    return int(getattr(dtype, "itemsize", 4))


def _text_encoder_adapted(pipe: Any) -> bool:
    """Whether any text encoder of ``pipe`` carries adapter (PEFT LoRA) layers right now."""
    for name in ("text_encoder", "text_encoder_2", "text_encoder_3"):
        encoder = getattr(pipe, name, None)
        if encoder is not None and any("lora_" in key for key, _ in encoder.named_parameters()):
            return True
    return False


def standard_kwargs(params: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline arguments every diffusers family takes from the same wgp parameters.

    ``prompt``, ``negative_prompt`` (when the request has one), ``height``,
    ``width``, ``steps`` -> ``num_inference_steps``, ``guidance`` ->
    ``guidance_scale``, and ``output_type="np"`` (float output that
    :func:`~wgp_diffusers.diffusion.to_uint8_video` / ``to_uint8_images`` convert).
    A family adds its own (frames, images, ...) to the result.
    """
    kwargs: dict[str, Any] = {
        "prompt": params["prompt"],
        "height": int(params["height"]),
        "width": int(params["width"]),
        "num_inference_steps": int(params["steps"]),
        "guidance_scale": float(params["guidance"]),
        "output_type": "np",
    }
    if params.get("negative_prompt") is not None:
        kwargs["negative_prompt"] = params["negative_prompt"]
    return kwargs


# --------------------------------------------------------------------------- registration and checks


#: The profiles every family built with :func:`define_family` has (``fast`` where its models take First Block Cache).
STANDARD_PROFILES = (
    Profile("quality", "The family's published defaults, no lever: what the official recipe does",
            source="each model's defaults (their sources are beside them in the family's specs)"),
    Profile("fast", "First Block Cache at diffusers' default threshold: skips transformer steps whose first block barely changes",
            plan={"cache": "fbcache"}, source="diffusers FirstBlockCacheConfig (threshold 0.05, its default)"),
)
#: ``fast`` for each cache it may use, first choice first: a model gets the first one it takes
#: (its ``refused_caches``), and no ``fast`` when it takes none.
FAST_PROFILES = (
    STANDARD_PROFILES[1],
    Profile("fast", "TaylorSeer at diffusers' defaults: computes the transformer fully every 5th step (after the first 3) "
            "and predicts the steps between from a first-order Taylor expansion",
            plan={"cache": "taylorseer"},
            source="diffusers TaylorSeerCacheConfig (cache_interval 5, disable_cache_before_step 3, max_order 1, its defaults)"),
)


def with_refused_caches(models: tuple[ModelSpec, ...], refused: Mapping[str, str] | None) -> tuple[ModelSpec, ...]:
    """``models`` with a family-wide ``refused_caches`` declaration merged into each one's own (which wins)."""
    if not refused:
        return models
    return tuple(dataclasses.replace(m, options={**m.options, "refused_caches": {**refused, **levers.refused_caches(m)}})
                 for m in models)


def _matching_declared(match_weights: Callable[[ModelSpec, str], ModelSpec],
                       models: tuple[ModelSpec, ...]) -> Callable[[ModelSpec, str], ModelSpec]:
    """``match_weights`` answering with the family's specs (which carry its ``refused_caches``)."""
    by_id = {m.id: m for m in models}

    def match(spec: ModelSpec, folder: str) -> ModelSpec:
        found = match_weights(spec, folder)
        return by_id.get(found.id, found)

    return match


def fast_profiles(models: tuple[ModelSpec, ...]) -> tuple[Profile, ...]:
    """The ``fast`` profile(s) of a family: each model gets the first of :data:`FAST_PROFILES` whose
    cache it takes, so ``--profile fast`` is never refused on a model of its own family.

    A model's ``fast_cache`` option names the cache itself, or is None for no ``fast`` (a cache it
    takes but that does nothing at its defaults there)."""
    chosen: dict[str, list[str]] = {}
    for model in models:
        usable = levers.usable_caches(model)
        if "fast_cache" in model.options:
            usable = tuple(c for c in usable if c == model.options["fast_cache"])
        profile = next((p for p in FAST_PROFILES if p.plan["cache"] in usable), None)
        if profile is not None:
            chosen.setdefault(profile.plan["cache"], []).append(model.id)
    out = []
    for profile in FAST_PROFILES:
        ids = chosen.get(profile.plan["cache"])
        if ids:
            out.append(dataclasses.replace(profile, models=() if len(ids) == len(models) else tuple(ids)))
    return tuple(out)


def define_family(
    name: str,
    package: str,
    models: tuple[ModelSpec, ...],
    check: Callable[[ModelSpec, Mapping[str, Any]], list[str]] | None = None,
    description: str = "",
    profiles: tuple[Profile, ...] = (),
    match_weights: Callable[[ModelSpec, str], ModelSpec] | None = None,
    refused_caches: Mapping[str, str] | None = None,
) -> ModelFamily:
    """The :class:`ModelFamily` of a diffusers family laid out like wgp-wan, wgp-flux and wgp-ltx.

    ``load`` is ``PACKAGE.pipeline:load`` and ``build_tiny`` is
    ``PACKAGE.tiny:build_tiny``, both :func:`deferred`, so building the family
    (at registration) imports neither torch nor diffusers.  The family takes the
    plan options of :data:`OPTION_GROUP` (``--dtype``, ``--offload``,
    ``--vae-tiling`` and the levers), which this distribution registers once for all
    of them, ``quality`` and :func:`fast_profiles` besides ``profiles``.
    ``refused_caches`` (cache -> reason, see :func:`wgp_diffusers.levers.refusing`) says which
    step caches none of the family's models take; a model adds its own in its
    ``refused_caches`` option, and :func:`wgp_diffusers.levers.check_plan` refuses them at the door.
    ``match_weights`` (torch-free) tells at the door which model a ``--model-path`` folder is;
    ``fit_size`` is :func:`wgp_diffusers.sizing.fit_size` (a model's ``size_rule`` option).
    """
    models = with_refused_caches(tuple(models), refused_caches)
    if match_weights is not None and refused_caches:
        match_weights = _matching_declared(match_weights, models)
    return ModelFamily(
        name=name,
        models=models,
        load=deferred(f"{package}.pipeline:load"),
        build_tiny=deferred(f"{package}.tiny:build_tiny"),
        check=check,
        description=description,
        option_groups=(OPTION_GROUP,),
        check_plan=deferred("wgp_diffusers.levers:check_plan"),
        profiles=STANDARD_PROFILES[:1] + fast_profiles(models) + tuple(profiles),
        match_weights=match_weights,
        fit_size=sizing.fit_size,
    )


def registration_hook(family: ModelFamily) -> Callable[[Callable[[ModelFamily], None]], None]:
    """The plugin's ``register_model_families`` implementation for one family::

        register_model_families = registration_hook(WAN_FAMILY)
    """
    from wgp_hookspecs import hookimpl

    @hookimpl
    def register_model_families(register: Callable[[ModelFamily], None]) -> None:
        register(family)

    return register_model_families


def deferred(target: str) -> Callable[..., Any]:
    """A function that imports ``"package.module:function"`` on its first call, then calls it.

    Registration code passes these as ``ModelFamily.load`` and ``build_tiny``,
    so torch and diffusers are imported when a model is loaded or built, never
    on ``wgp --help``::

        ModelFamily(name="flux", models=MODELS, load=deferred("wgp_flux.pipeline:load"), ...)
    """
    module_name, _, name = target.partition(":")
    if not module_name or not name:
        raise ValueError(f"deferred target must look like 'package.module:function', got {target!r}")

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module_name), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``{target}``, imported on first use."
    return call



def image_size(path: Any, flag: str = "image") -> tuple[int, int]:
    """(width, height) of the image at ``path``; UserError when it is missing or not an image."""
    from PIL import Image, UnidentifiedImageError

    file = Path(str(path)).expanduser()
    if not file.is_file():
        raise UserError(f"{flag}: {path} does not exist or is not a file")
    try:
        with Image.open(file) as image:
            image.verify()
        with Image.open(file) as image:
            width, height = image.size
            # A phone's portrait photo is often stored landscape with an EXIF rotation, which
            # load_image applies: the size is the one the pipeline will see.
            if image.getexif().get(0x0112) in (5, 6, 7, 8):
                return height, width
            return width, height
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"{flag}: {path} is not a readable image ({exc})") from None


__all__ = [
    "FAST_PROFILES",
    "STANDARD_PROFILES",
    "DiffusersModel",
    "deferred",
    "define_family",
    "fast_profiles",
    "image_size",
    "registration_hook",
    "standard_kwargs",
]
