"""Loading and running Wan models with diffusers.

The first module of this plugin that imports torch and diffusers; the host
reaches it only through ``load``, when a job actually needs the model.

A direct diffusers user and wgp must get the same frames from the same
request, so the three places where wgp turns a request into a diffusers call
are public and used by the tests' direct calls too:
:func:`pipeline_kwargs` (the call's keyword arguments), :func:`configure_scheduler`
(the flow shift) and :func:`wgp_host.diffusion.to_uint8_video` (the frames).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import diffusers
from diffusers.utils import load_image
from wgp_hookspecs import GenerationContext, GenerationRequest, GenerationResult, LoadPlan, ModelSpec, UserError

from wgp_host.diffusion import (
    apply_offload,
    apply_vae_tiling,
    component_dtypes,
    load_pipeline,
    release_pipeline,
    resolve_device,
    resolve_dtype,
    resolve_weights,
    seeded_generator,
    step_callback,
    to_uint8_video,
    validate_plan,
)

#: Components the published Wan recipes keep in float32 when the rest runs in half precision.
FLOAT32_COMPONENTS = ("vae", "image_encoder")


def pipeline_class(spec: ModelSpec, with_image: bool = False) -> type:
    """The diffusers pipeline class for a model (and, for TI2V, for a request with or without an image)."""
    kind = spec.options.get("pipeline")
    # Attribute access on the diffusers module imports only the class asked for: a
    # text-to-video run never pays for the image pipeline's CLIP imports.
    if kind == "i2v" or (kind == "ti2v" and with_image):
        return diffusers.WanImageToVideoPipeline
    return diffusers.WanPipeline


def load_images(params: Mapping[str, Any]) -> dict[str, Any]:
    """The request's conditioning images as RGB PIL images, keyed ``image`` and ``last_image``.

    ``diffusers.utils.load_image`` (EXIF orientation applied, converted to RGB) is
    what a direct diffusers user calls; the pipeline resizes to width x height.
    """
    images: dict[str, Any] = {}
    if params.get("image_start"):
        images["image"] = load_image(str(params["image_start"]))
    if params.get("image_end"):
        images["last_image"] = load_image(str(params["image_end"]))
    return images


def pipeline_kwargs(params: Mapping[str, Any] | GenerationRequest, images: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The keyword arguments of the diffusers call for one request, minus generator and callback.

    Parameter names map to diffusers' own (``steps`` -> ``num_inference_steps``,
    ``guidance_2`` -> ``guidance_scale_2``, ``image_start`` -> ``image``, ...);
    ``images`` come from :func:`load_images`.  ``flow_shift`` is not a call
    argument: it configures the scheduler (:func:`configure_scheduler`).
    """
    if isinstance(params, GenerationRequest):
        params = params.params
    kwargs: dict[str, Any] = {
        "prompt": params["prompt"],
        "negative_prompt": params.get("negative_prompt"),
        "height": int(params["height"]),
        "width": int(params["width"]),
        "num_frames": int(params["frames"]),
        "num_inference_steps": int(params["steps"]),
        "guidance_scale": float(params["guidance"]),
        "output_type": "np",
    }
    if params.get("guidance_2") is not None:
        kwargs["guidance_scale_2"] = float(params["guidance_2"])
    kwargs.update(images or {})
    return {k: v for k, v in kwargs.items() if v is not None}


def configure_scheduler(pipe: Any, flow_shift: float | None) -> None:
    """Set the scheduler's flow shift the way the diffusers docs do for Wan.

    ``pipe.scheduler = type(scheduler).from_config(scheduler.config, flow_shift=...)``
    (``shift=`` for FlowMatchEulerDiscreteScheduler).  A fresh scheduler from
    config carries no state from earlier runs, so the result depends only on
    the request.  The scheduler is replaced only when the shift changes.
    """
    if flow_shift is None:
        return
    scheduler = pipe.scheduler
    config = scheduler.config
    key = "flow_shift" if "flow_shift" in config else "shift" if "shift" in config else None
    if key is None:
        raise UserError(f"{type(scheduler).__name__} has no flow shift setting; remove flow_shift from the request")
    if float(config[key]) != float(flow_shift):
        pipe.scheduler = type(scheduler).from_config(config, **{key: float(flow_shift)})


class WanModel:
    """A loaded Wan pipeline; kept in the runner's cache between jobs."""

    def __init__(self, spec: ModelSpec, plan: LoadPlan, pipe: Any, device: str, warnings: list[str] | None = None) -> None:
        self.spec = spec
        self.plan = plan
        self.device = device
        self.pipe = pipe
        #: Plan warnings, reported on the first generation (load has no event channel).
        self.warnings = list(warnings or [])
        # TI2V runs text-to-video and image-to-video on one checkpoint: the second
        # pipeline shares every component of the first.
        self._pipelines: dict[type, Any] = {type(pipe): pipe}
        self._offload_owner: Any = pipe

    def pipeline_for(self, with_image: bool) -> Any:
        """The pipeline that runs a request with (or without) a conditioning image."""
        cls = pipeline_class(self.spec, with_image)
        pipe = self._pipelines.get(cls)
        if pipe is None:
            base = self.pipe
            pipe = cls(**base.components, **{k: base.config[k] for k in ("boundary_ratio", "expand_timesteps")})
            self._pipelines[cls] = pipe
        if pipe is not self._offload_owner and (self.plan.offload or "none") == "model":
            # Model offload chains hooks through one pipeline's components in its order;
            # re-chain them for the pipeline about to run.
            pipe.enable_model_cpu_offload(device=self.device)
            self._offload_owner = pipe
        return pipe

    def generate(self, request: GenerationRequest, context: GenerationContext) -> GenerationResult:
        """Run one request; ``context.step`` is called after every denoising step."""
        if self.pipe is None:
            raise RuntimeError(f"{self.spec.id} was unloaded")
        for warning in self.warnings:
            context.warn(warning)
        self.warnings.clear()
        params = {**self.spec.defaults(), **{k: v for k, v in request.params.items() if v is not None}}
        seed = params.get("seed")
        if seed is None:
            seed = secrets.randbelow(2**63)
        images = load_images(params)
        if "last_image" in images and "image" not in images:
            raise UserError("image_end needs image_start as well")
        if self.spec.options.get("pipeline") == "i2v" and "image" not in images:
            raise UserError(f"{self.spec.id} needs a first frame: pass --image-start IMAGE")
        pipe = self.pipeline_for(bool(images))
        configure_scheduler(pipe, params.get("flow_shift"))
        tiled = apply_vae_tiling(pipe, self.plan.vae_tiling, params["width"], params["height"])
        steps = int(params["steps"])
        output = pipe(
            **pipeline_kwargs(params, images),
            generator=seeded_generator(seed, self.device),
            callback_on_step_end=step_callback(context, steps),
        )
        video = to_uint8_video(output.frames)
        return GenerationResult(
            video=video,
            fps=float(params["fps"]),
            metadata={"seed": int(seed), "pipeline": type(pipe).__name__, "vae_tiling": tiled},
        )

    def unload(self) -> None:
        """Drop the pipelines and give their memory back."""
        pipes = list(self._pipelines.values())
        self._pipelines.clear()
        self.pipe = None
        self._offload_owner = None
        for pipe in pipes:
            release_pipeline(pipe, self.device)
        del pipes
        release_pipeline(None, self.device)


def check_layout(spec: ModelSpec, pipe: Any, location: str) -> None:
    """Refuse weights whose layout is not this model's (a wrong ``--model-path``), with the reason."""
    options = spec.options
    problems = []
    if options.get("boundary_ratio") is not None:
        if getattr(pipe, "transformer_2", None) is None or pipe.config.get("boundary_ratio") is None:
            problems.append("no transformer_2 / boundary_ratio (a two-expert Wan 2.2 A14B checkpoint has both)")
    elif getattr(pipe, "transformer_2", None) is not None:
        problems.append("a transformer_2, which only Wan 2.2 A14B checkpoints have")
    if options.get("image_encoder") and getattr(pipe, "image_encoder", None) is None:
        problems.append("no image_encoder (Wan 2.1 image-to-video checkpoints have a CLIP image encoder)")
    if options.get("pipeline") == "ti2v" and not pipe.config.get("expand_timesteps"):
        problems.append("expand_timesteps is not set (Wan 2.2 TI2V-5B sets it)")
    if problems:
        raise UserError(f"weights at {location} do not match {spec.id}: " + "; ".join(problems))


def load(spec: ModelSpec, plan: LoadPlan) -> WanModel:
    """Load ``spec`` as ``plan`` says: validate the plan, resolve weights, from_pretrained, place.

    Everything that can be refused (device, offload, dtype, missing or pickled
    weights) is refused before a weight is read.
    """
    warnings = validate_plan(plan)
    device = resolve_device(plan.device)
    dtype = resolve_dtype(plan.dtype, device)
    location = resolve_weights(plan.weights or spec.weights)
    pipe = load_pipeline(pipeline_class(spec), location, component_dtypes(dtype, FLOAT32_COMPONENTS))
    check_layout(spec, pipe, location)
    apply_offload(pipe, plan, device)
    return WanModel(spec, plan, pipe, device, warnings)


__all__ = [
    "WanModel",
    "check_layout",
    "configure_scheduler",
    "load",
    "load_images",
    "pipeline_class",
    "pipeline_kwargs",
]
