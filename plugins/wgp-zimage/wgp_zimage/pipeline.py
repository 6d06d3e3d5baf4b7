"""Loading and running Z-Image models with diffusers.

The first module of this plugin that imports torch and diffusers; the host reaches it only
through ``load``.  Loading, generating and unloading are :class:`wgp_diffusers.DiffusersModel`'s;
:class:`ZImageModel` says which pipeline runs a request (``ZImagePipeline``, or
``ZImageImg2ImgPipeline`` over the same components when ``image_start`` is given), how a
request becomes its call (:meth:`ZImageModel.pipeline_kwargs`, also used by the tests' direct
calls) and how its prompts are encoded once for a sweep.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import diffusers
from wgp_hookspecs import LoadPlan, ModelSpec

from wgp_diffusers import DiffusersModel, standard_kwargs

from .plugin import strength_steps


class ZImageModel(DiffusersModel):
    """A loaded Z-Image pipeline; kept in the runner's cache between jobs."""

    #: The image to start from: ``image_start`` (``--image-start``) is the img2img pipeline's ``image``,
    #: centre-cropped to the output's aspect ratio and resized to it (a direct call given the same
    #: prepared image gets the same output).
    image_arguments: ClassVar[Mapping[str, str]] = {"image_start": "image"}
    #: With VAE tiling on auto, images up to 2048x2048 (the README's largest) are decoded whole.
    auto_tiling_pixels = 2048 * 2048
    #: The official README loads both models in torch.bfloat16; nothing published says fp16 holds.
    safe_dtypes = ("bf16", "fp32")
    #: One text encoder (Qwen3).
    text_encoders = ("text_encoder",)

    @staticmethod
    def pipeline_class(spec: ModelSpec, with_image: bool = False) -> type:
        """ZImageImg2ImgPipeline for a request with ``image_start``, ZImagePipeline otherwise."""
        return diffusers.ZImageImg2ImgPipeline if with_image else diffusers.ZImagePipeline

    @staticmethod
    def pipeline_kwargs(params: Mapping[str, Any], images: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The diffusers call for one request, minus generator and callback.

        Besides :func:`standard_kwargs`: ``batch_size`` -> ``num_images_per_prompt``,
        ``max_sequence_length``, ``cfg_normalization`` (base model) and, with a start image,
        ``image`` and ``strength``.
        """
        kwargs = standard_kwargs(params)
        kwargs["num_images_per_prompt"] = int(params["batch_size"])
        kwargs["max_sequence_length"] = int(params["max_sequence_length"])
        if "cfg_normalization" in params:
            kwargs["cfg_normalization"] = bool(params["cfg_normalization"])
        if images:
            kwargs.update(images, strength=float(params["strength"]))
        return kwargs

    def denoising_steps(self, params: Mapping[str, Any]) -> int:
        """``steps``, or with a start image the steps that ``strength`` leaves (progress counts to them)."""
        if params.get("image_start"):
            return strength_steps(int(params["steps"]), float(params["strength"]))
        return int(params["steps"])

    def encodes_negative(self, kwargs: Mapping[str, Any]) -> bool:
        """Z-Image guides whenever ``guidance_scale > 0`` (its pipeline's rule), not above 1."""
        return float(kwargs.get("guidance_scale", 0.0)) > 0.0

    def encode_prompt(self, pipe: Any, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """``pipe.encode_prompt`` called as the pipeline's ``__call__`` calls it: per-prompt Qwen3
        hidden states (lists of tensors, padding dropped), the negative ones under guidance.  The
        pipeline repeats them for ``num_images_per_prompt`` itself, so that argument stays."""
        import torch

        with torch.no_grad():
            embeds, negative = pipe.encode_prompt(
                prompt=kwargs["prompt"],
                negative_prompt=kwargs.get("negative_prompt"),
                do_classifier_free_guidance=self.encodes_negative(kwargs),
                device=pipe._execution_device,
                max_sequence_length=int(kwargs["max_sequence_length"]),
            )
        return {"prompt_embeds": embeds, "negative_prompt_embeds": negative if self.encodes_negative(kwargs) else None}

    def prompt_warnings(self, pipe: Any, kwargs: Mapping[str, Any]) -> list[str]:
        """Cut prompts, counted as the pipeline tokenizes them: inside the Qwen3 chat template."""
        tokenizer = getattr(pipe, "tokenizer", None)
        if tokenizer is None:
            return []
        templated = {
            name: tokenizer.apply_chat_template(
                [{"role": "user", "content": kwargs[name]}], tokenize=False, add_generation_prompt=True, enable_thinking=True,
            )
            for name in ("prompt", "negative_prompt") if isinstance(kwargs.get(name), str)
        }
        return super().prompt_warnings(pipe, {**kwargs, **templated})


def load(spec: ModelSpec, plan: LoadPlan) -> ZImageModel:
    """Load ``spec`` as ``plan`` says (see :meth:`DiffusersModel.load`)."""
    return ZImageModel.load(spec, plan)


__all__ = ["ZImageModel", "load"]
