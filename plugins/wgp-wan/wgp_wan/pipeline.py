"""Loading and running Wan models with diffusers.

The first module of this plugin that imports torch and diffusers; the host
reaches it only through ``load``, when a job actually needs the model.

A direct diffusers user and wgp must get the same frames from the same
request, so the three places where wgp turns a request into a diffusers call
are public and used by the tests' direct calls too:
:func:`pipeline_kwargs` (the call's keyword arguments), :func:`configure_scheduler`
(the flow shift) and :func:`wgp_diffusers.diffusion.to_uint8_video` (the frames).
Loading, generating and unloading are :class:`wgp_diffusers.DiffusersModel`'s;
:class:`WanModel` adds Wan's image rules, flow shift and layout checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import diffusers
from wgp_hookspecs import GenerationRequest, LoadPlan, ModelSpec, UserError

from wgp_diffusers import diffusion
from wgp_diffusers import DiffusersModel, standard_kwargs

#: Components the published Wan recipes keep in float32 when the rest runs in half precision.
FLOAT32_COMPONENTS = ("vae", "image_encoder")


def pipeline_class(spec: ModelSpec, with_image: bool = False) -> type:
    """The diffusers pipeline class for a model (and, for TI2V, for a request with or without an image)."""
    kind = spec.options.get("pipeline")
    # Attribute access on the diffusers module imports only the class asked for: a
    # text-to-video run never pays for the image pipeline's CLIP imports.
    if kind == "vace":
        return diffusers.WanVACEPipeline
    if kind == "animate":
        return diffusers.WanAnimatePipeline
    if kind == "i2v" or (kind == "ti2v" and with_image):
        return diffusers.WanImageToVideoPipeline
    return diffusers.WanPipeline


#: Image parameters and the pipeline arguments they become.
IMAGE_ARGUMENTS = {"image_start": "image", "image_end": "last_image"}


def load_images(params: Mapping[str, Any]) -> dict[str, Any]:
    """The request's conditioning images as RGB PIL images, keyed ``image`` and ``last_image``.

    ``diffusers.utils.load_image`` is what a direct diffusers user calls; each image is
    then centre-cropped to width:height and resized to width x height
    (:func:`wgp_diffusers.sizing.prepare_image`): the first-last-frame recipe for the last
    frame, and no stretching for either.  The tests' direct calls take these same images.
    """
    return diffusion.load_images(params, IMAGE_ARGUMENTS)


def pipeline_kwargs(params: Mapping[str, Any] | GenerationRequest, images: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The keyword arguments of the diffusers call for one request, minus generator and callback.

    Parameter names map to diffusers' own (``steps`` -> ``num_inference_steps``,
    ``guidance_2`` -> ``guidance_scale_2``, ``image_start`` -> ``image``, ...);
    ``images`` come from :func:`load_images`.  ``flow_shift`` is not a call
    argument: it configures the scheduler (:func:`configure_scheduler`).
    """
    if isinstance(params, GenerationRequest):
        params = params.params
    kwargs = standard_kwargs(params)
    kwargs["num_frames"] = int(params["frames"])
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


class WanModel(DiffusersModel):
    """A loaded Wan pipeline; kept in the runner's cache between jobs."""

    image_arguments = IMAGE_ARGUMENTS
    float32_components = FLOAT32_COMPONENTS
    #: The official code runs T5 and the DiT in bfloat16 (shared_config.py: t5_dtype, param_dtype),
    #: the diffusers model cards too (the VAE in float32); float32 is always right.
    safe_dtypes = ("bf16", "fp32")
    pipeline_class = staticmethod(pipeline_class)
    pipeline_kwargs = staticmethod(pipeline_kwargs)
    check_layout = staticmethod(check_layout)

    def prepare(self, pipe: Any, params: Mapping[str, Any]) -> None:
        configure_scheduler(pipe, params.get("flow_shift"))

    def encode_prompt(self, pipe: Any, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """``pipe.encode_prompt`` called as the pipeline's own ``__call__`` calls it (its
        ``max_sequence_length`` default, guidance on above 1.0), so the frames are the same."""
        import inspect

        import torch

        length = kwargs.get("max_sequence_length")
        if length is None:
            length = inspect.signature(type(pipe).__call__).parameters["max_sequence_length"].default
        with torch.no_grad():  # as inside the pipeline's __call__: no autograd state kept on the cache
            prompt_embeds, negative_prompt_embeds = pipe.encode_prompt(
                prompt=kwargs["prompt"],
                negative_prompt=kwargs.get("negative_prompt"),
                do_classifier_free_guidance=self.encodes_negative(kwargs),
                num_videos_per_prompt=1,
                max_sequence_length=length,
                device=pipe._execution_device,
            )
        return {"prompt_embeds": prompt_embeds, "negative_prompt_embeds": negative_prompt_embeds}


def model_class(spec: ModelSpec) -> type[WanModel]:
    """The loaded-model class of ``spec``: VACE and Animate take media inputs of their own."""
    kind = spec.options.get("pipeline")
    if kind == "vace":
        from .vace import VaceModel

        return VaceModel
    if kind == "animate":
        from .animate import AnimateModel

        return AnimateModel
    if kind == "animate2":  # a Modular pipeline (wgp_wan.animate2)
        from .animate2 import Animate2Model

        return Animate2Model  # type: ignore[return-value]
    return WanModel


def load(spec: ModelSpec, plan: LoadPlan) -> WanModel:
    """Load ``spec`` as ``plan`` says (see :meth:`DiffusersModel.load`): nothing is read before the plan is checked."""
    return model_class(spec).load(spec, plan)


__all__ = [
    "WanModel",
    "check_layout",
    "configure_scheduler",
    "load",
    "load_images",
    "model_class",
    "pipeline_class",
    "pipeline_kwargs",
]
