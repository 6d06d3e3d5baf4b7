"""Loading and running HunyuanVideo 1.5 models with diffusers.

The first module of this plugin that imports torch and diffusers; the host reaches it only
through ``load``.  Loading, generating and unloading are :class:`wgp_diffusers.DiffusersModel`'s;
:class:`HunyuanModel` says which pipeline runs a model and how a request becomes its call.
Two things differ from other diffusers video pipelines, and the functions here that handle
them are public so the tests' direct diffusers calls are built the same way:

* guidance is a pipeline component (``pipe.guider``, a ClassifierFreeGuidance), not a call
  argument: :func:`configure` swaps in ``pipe.guider.new(guidance_scale=...)``, and the flow
  shift a new scheduler from the loaded one's config;
* the image-to-video pipeline takes no size: it picks the bucket nearest the start image's aspect
  ratio at the transformer's ``target_size`` (:func:`output_size`) and centre-crops the image to it.

Neither pipeline takes ``callback_on_step_end``; steps are reported (and a cancel stops the run
before the VAE decodes) through :mod:`wgp_diffusers.stepping`, which the shared generate uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import diffusers
from wgp_hookspecs import LoadPlan, ModelSpec, UserError

from wgp_diffusers import DiffusersModel, levers


def pipeline_class(spec: ModelSpec, with_image: bool = False) -> type:
    """HunyuanVideo15ImageToVideoPipeline for the i2v checkpoints, HunyuanVideo15Pipeline for t2v."""
    if spec.options.get("pipeline") == "i2v":
        return diffusers.HunyuanVideo15ImageToVideoPipeline
    return diffusers.HunyuanVideo15Pipeline


def pipeline_kwargs(params: Mapping[str, Any], images: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The keyword arguments of the diffusers call for one request, minus generator and callback.

    ``steps`` -> ``num_inference_steps``, ``frames`` -> ``num_frames``, ``image_start`` ->
    ``image``; ``height``/``width`` only for text-to-video (the image pipeline has neither).
    ``guidance`` and ``flow_shift`` configure the pipeline instead (:func:`configure`).
    """
    kwargs: dict[str, Any] = {
        "prompt": params["prompt"],
        "num_frames": int(params["frames"]),
        "num_inference_steps": int(params["steps"]),
        "output_type": "np",
    }
    if params.get("negative_prompt") is not None:
        kwargs["negative_prompt"] = params["negative_prompt"]
    if images:
        kwargs.update(images)
    else:
        kwargs.update(height=int(params["height"]), width=int(params["width"]))
    return kwargs


def configure(pipe: Any, guidance: float | None, flow_shift: float | None) -> None:
    """Give ``pipe`` the request's guidance scale and flow shift, as a diffusers user does:
    ``pipe.guider = pipe.guider.new(guidance_scale=...)`` and
    ``pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(config, shift=...)``.

    Both are fresh objects from the loaded ones' configs, so no state of an earlier run
    (the guider's step counters) carries over; each is replaced only when its value changes.
    """
    if guidance is not None and float(pipe.guider.guidance_scale) != float(guidance):
        pipe.guider = pipe.guider.new(guidance_scale=float(guidance))
    if flow_shift is not None:
        config = pipe.scheduler.config
        if "shift" not in config:
            raise UserError(f"{type(pipe.scheduler).__name__} has no flow shift setting; remove flow_shift from the request")
        if float(config["shift"]) != float(flow_shift):
            pipe.scheduler = type(pipe.scheduler).from_config(config, shift=float(flow_shift))


def output_size(pipe: Any, image: Any) -> tuple[int, int]:
    """(width, height) of the video the image pipeline makes from ``image`` (a PIL image): its own
    bucket choice (``calculate_default_height_width`` at the transformer's ``target_size``)."""
    height, width = pipe.video_processor.calculate_default_height_width(
        height=image.size[1], width=image.size[0], target_size=pipe.target_size
    )
    return int(width), int(height)


def check_layout(spec: ModelSpec, pipe: Any, location: str) -> None:
    """Refuse weights of the other task, by the door's rule (:func:`wgp_hunyuan.plugin.match_weights`)."""
    from .plugin import match_weights

    match_weights(spec, location)


def register_cache_blocks() -> None:
    """Tell diffusers' step caches what a HunyuanVideo15TransformerBlock returns.

    diffusers 0.42 registers the block layout of HunyuanVideo (1.0) but not of 1.5, so
    ``--cache fbcache`` would fail with "not registered"; the 1.5 block returns
    ``(hidden_states, encoder_hidden_states)`` like 1.0's.
    """
    from diffusers.models.transformers.transformer_hunyuan_video15 import HunyuanVideo15TransformerBlock

    levers.register_cache_block(HunyuanVideo15TransformerBlock, return_hidden_states_index=0, return_encoder_hidden_states_index=1)


class HunyuanModel(DiffusersModel):
    """A loaded HunyuanVideo 1.5 pipeline; kept in the runner's cache between jobs."""

    image_arguments: ClassVar[Mapping[str, str]] = {"image_start": "image"}
    #: The image pipeline crops the start image to its own bucket; wgp hands it the image as is.
    crop_images = False
    #: generate.py runs the transformer in bf16 or fp32 only; the diffusers examples load in bf16.
    safe_dtypes = ("bf16", "fp32")
    #: The diffusers examples enable VAE tiling at 480p and 720p; auto tiles above 256x256.
    auto_tiling_pixels = 256 * 256
    #: The pipeline takes no max_sequence_length (Qwen2.5-VL reads up to 1000 tokens).
    prompt_tokenizer = None
    pipeline_class = staticmethod(pipeline_class)
    pipeline_kwargs = staticmethod(pipeline_kwargs)
    check_layout = staticmethod(check_layout)

    def prepare(self, pipe: Any, params: dict[str, Any]) -> None:
        """The request's guidance and flow shift; for image-to-video, the size the pipeline will
        make, written into ``params`` so VAE tiling decides on the real frame size."""
        configure(pipe, params.get("guidance"), params.get("flow_shift"))
        if params.get("image_start") and "width" not in params:
            from diffusers.utils import load_image

            params["width"], params["height"] = output_size(pipe, load_image(str(params["image_start"])))

    def encodes_negative(self, kwargs: Mapping[str, Any]) -> bool:
        """Whether the negative prompt is encoded: the pipeline's own test, on the guider it will
        run with (CFG enabled with more than one condition, i.e. a scale other than 1)."""
        guider = self.running_pipe.guider
        return bool(guider._enabled and guider.num_conditions > 1)

    def encode_prompt(self, pipe: Any, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """``pipe.encode_prompt`` (Qwen2.5-VL and the ByT5 glyph encoder: embeddings and masks)
        called as the pipeline's ``__call__`` calls it, for the prompt and, with CFG on, the
        negative prompt, so a sweep over seeds or steps runs the 7B text encoder once."""
        import torch

        names = ("prompt_embeds", "prompt_embeds_mask", "prompt_embeds_2", "prompt_embeds_mask_2")

        def encode(prompt: Any) -> tuple[Any, ...]:
            return pipe.encode_prompt(prompt=prompt, device=pipe._execution_device, dtype=pipe.transformer.dtype,
                                      batch_size=1, num_videos_per_prompt=1)

        with torch.no_grad():
            out = dict(zip(names, encode(kwargs["prompt"])))
            if self.encodes_negative(kwargs):
                out.update(zip((f"negative_{name}" for name in names), encode(kwargs.get("negative_prompt"))))
        return out


def load(spec: ModelSpec, plan: LoadPlan) -> HunyuanModel:
    """Load ``spec`` as ``plan`` says (see :meth:`DiffusersModel.load`)."""
    register_cache_blocks()
    return HunyuanModel.load(spec, plan)


__all__ = ["HunyuanModel", "check_layout", "configure", "load", "output_size", "pipeline_class", "pipeline_kwargs"]
