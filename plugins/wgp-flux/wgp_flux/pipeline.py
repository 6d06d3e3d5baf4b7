"""Loading and running Flux models with diffusers (FLUX.2: :mod:`wgp_flux.pipeline_flux2`).

The first module of this plugin that imports torch and diffusers; the host
reaches it only through ``load``.  Loading, generating and unloading are
:class:`wgp_diffusers.DiffusersModel`'s; :class:`FluxModel` says
which pipeline runs a model, how a request becomes its call
(:meth:`FluxModel.pipeline_kwargs`, also used by the tests' direct calls) and
which weights fit which id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import diffusers
from wgp_hookspecs import LoadPlan, ModelSpec

from wgp_diffusers import DiffusersModel, standard_kwargs
from wgp_diffusers.configs import pipeline_configs, read_configs

from .layout import check_configs


class FluxModel(DiffusersModel):
    """A loaded Flux pipeline; kept in the runner's cache between jobs."""

    #: Kontext's reference image: ``image_start`` (``--image-start``) is the pipeline's ``image``.
    image_arguments: ClassVar[Mapping[str, str]] = {"image_start": "image"}
    #: The reference is encoded at its own (preferred Kontext) resolution, not the output's: never cropped.
    crop_images = False
    #: With VAE tiling on auto, images up to 2048x2048 are decoded whole (1024x1024 needs no tiles).
    auto_tiling_pixels = 2048 * 2048
    #: The model cards' diffusers examples load every FLUX.1 model in torch.bfloat16; its T5
    #: encoder is the part known to overflow in float16.
    safe_dtypes = ("bf16", "fp32")
    #: T5 carries the prompt (up to max_sequence_length); CLIP's 77 tokens are a pooled summary.
    prompt_tokenizer = "tokenizer_2"

    @staticmethod
    def pipeline_class(spec: ModelSpec, with_image: bool = False) -> type:
        """FluxKontextPipeline for Kontext, FluxPipeline for dev and schnell."""
        return diffusers.FluxKontextPipeline if spec.options.get("pipeline") == "kontext" else diffusers.FluxPipeline

    @staticmethod
    def pipeline_kwargs(params: Mapping[str, Any], images: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The diffusers call for one request, minus generator and callback.

        Besides :func:`standard_kwargs`: ``batch_size`` -> ``num_images_per_prompt``
        and ``max_sequence_length``.  With a reference image (Kontext),
        ``max_area`` is the requested width x height, so the output is exactly
        that size (diffusers would otherwise rescale it to 1024x1024's area),
        and ``auto_resize`` is diffusers' ``_auto_resize``.
        """
        kwargs = standard_kwargs(params)
        kwargs["num_images_per_prompt"] = int(params["batch_size"])
        kwargs["max_sequence_length"] = int(params["max_sequence_length"])
        if images:
            kwargs.update(images, max_area=kwargs["width"] * kwargs["height"])
            kwargs["_auto_resize"] = bool(params.get("auto_resize", True))
        return kwargs

    def encodes_negative(self, kwargs: Mapping[str, Any]) -> bool:
        """FLUX's ``guidance_scale`` is distilled into the transformer; a negative prompt is encoded
        only for true classifier-free guidance (``true_cfg_scale > 1`` with a negative prompt)."""
        return float(kwargs.get("true_cfg_scale", 1.0)) > 1.0 and kwargs.get("negative_prompt") is not None

    def encode_prompt(self, pipe: Any, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """``pipe.encode_prompt`` (CLIP pooled + T5 sequence) called as the pipeline's ``__call__``
        calls it, for the prompt and, under true CFG, the negative prompt.

        The embeddings come out repeated for the batch, and precomputed embeddings set the
        pipeline's batch size, so the call then asks for one image per (repeated) prompt:
        the same latents, the same images."""
        import torch

        def encode(prompt: str) -> tuple[Any, Any]:
            embeds, pooled, _ = pipe.encode_prompt(
                prompt=prompt,
                prompt_2=None,
                device=pipe._execution_device,
                num_images_per_prompt=int(kwargs.get("num_images_per_prompt", 1)),
                max_sequence_length=int(kwargs["max_sequence_length"]),
            )
            return embeds, pooled

        with torch.no_grad():
            out = dict(zip(("prompt_embeds", "pooled_prompt_embeds"), encode(kwargs["prompt"])))
            if self.encodes_negative(kwargs):
                out.update(zip(("negative_prompt_embeds", "negative_pooled_prompt_embeds"), encode(kwargs["negative_prompt"])))
        out["num_images_per_prompt"] = 1
        return out

    @staticmethod
    def check_layout(spec: ModelSpec, pipe: Any, location: str) -> None:
        """Refuse weights of another FLUX.1 model (schnell for dev, dev for Kontext, ...) by the
        door's rule (:mod:`wgp_flux.layout`), for weights the door could not read."""
        configs = {**pipeline_configs(pipe, ("transformer",)), **(read_configs(location, ("transformer",)) or {})}
        check_configs(spec, configs, location)


def load(spec: ModelSpec, plan: LoadPlan) -> DiffusersModel:
    """Load ``spec`` as ``plan`` says (see :meth:`DiffusersModel.load`): a FLUX.2 id as
    :class:`~wgp_flux.pipeline_flux2.Flux2Model`, a FLUX.1 one as :class:`FluxModel`."""
    if spec.options.get("pipeline") in ("flux2", "klein"):
        from .pipeline_flux2 import Flux2Model

        return Flux2Model.load(spec, plan)
    return FluxModel.load(spec, plan)


__all__ = ["FluxModel", "load"]
