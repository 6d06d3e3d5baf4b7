"""Loading and running LTX-Video with diffusers.

The first module of this plugin that imports torch and diffusers.  Loading,
generating and unloading are :class:`wgp_diffusers.DiffusersModel`'s;
:class:`LTXModel` says which pipeline runs a request (text to video, or image
to video when ``image_start`` is given, over the same loaded components) and
how a request becomes its call (:meth:`LTXModel.pipeline_kwargs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import diffusers
from wgp_hookspecs import LoadPlan, ModelSpec

from wgp_diffusers import DiffusersModel, standard_kwargs
from wgp_diffusers.configs import pipeline_configs

from .versions import detect_layout, spec_for_layout


class LTXModel(DiffusersModel):
    """A loaded LTX-Video pipeline (and its image-to-video twin); kept in the runner's cache."""

    #: The start image, ``image_start`` (``--image-start``), is the image pipeline's ``image``.
    image_arguments: ClassVar[Mapping[str, str]] = {"image_start": "image"}
    #: Every recipe runs bfloat16: configs/ltxv-*.yaml ``precision: "bfloat16"``, and the diffusers
    #: docs recommend it for the transformer; float32 is always right.
    safe_dtypes = ("bf16", "fp32")

    @staticmethod
    def pipeline_class(spec: ModelSpec, with_image: bool = False) -> type:
        """LTXConditionPipeline for 0.9.5 and later (with or without an image); before,
        LTXImageToVideoPipeline for a request with a start image, LTXPipeline otherwise."""
        if spec.options.get("pipeline") == "condition":
            return diffusers.LTXConditionPipeline
        return diffusers.LTXImageToVideoPipeline if with_image else diffusers.LTXPipeline

    @staticmethod
    def check_layout(spec: ModelSpec, pipe: Any, location: str) -> None:
        """Refuse weights of another LTX-Video version (weights the door could not read: a repo
        fetched on load, a worker's own ``model_paths``), by the rule the door uses."""
        spec_for_layout(spec, detect_layout(pipeline_configs(pipe, ("transformer", "vae"))), location, detect=False)

    @staticmethod
    def pipeline_kwargs(params: Mapping[str, Any], images: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The diffusers call for one request, minus generator and callback.

        Besides :func:`standard_kwargs`: ``frames`` -> ``num_frames``, and
        ``fps`` is also the call's ``frame_rate``, which scales the
        transformer's temporal positions, so the model generates for the rate
        the video is written at.  ``decode_noise_scale`` left unset is
        diffusers' default (the decode timestep).
        """
        kwargs = standard_kwargs(params)
        kwargs.update(
            num_frames=int(params["frames"]),
            frame_rate=int(params["fps"]),
            decode_timestep=float(params["decode_timestep"]),
            max_sequence_length=int(params["max_sequence_length"]),
        )
        if params.get("decode_noise_scale") is not None:
            kwargs["decode_noise_scale"] = float(params["decode_noise_scale"])
        kwargs.update(images or {})
        return kwargs


    def encode_prompt(self, pipe: Any, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """``pipe.encode_prompt`` (T5 embeddings and their attention masks) called as the
        pipeline's ``__call__`` calls it, the negative prompt encoded when guidance is on."""
        import torch

        with torch.no_grad():
            embeds, mask, negative_embeds, negative_mask = pipe.encode_prompt(
                prompt=kwargs["prompt"],
                negative_prompt=kwargs.get("negative_prompt"),
                do_classifier_free_guidance=self.encodes_negative(kwargs),
                num_videos_per_prompt=1,
                max_sequence_length=int(kwargs["max_sequence_length"]),
                device=pipe._execution_device,
            )
        out = {"prompt_embeds": embeds, "prompt_attention_mask": mask}
        if negative_embeds is not None:
            out.update(negative_prompt_embeds=negative_embeds, negative_prompt_attention_mask=negative_mask)
        return out

def load(spec: ModelSpec, plan: LoadPlan) -> LTXModel:
    """Load ``spec`` as ``plan`` says (see :meth:`DiffusersModel.load`)."""
    return LTXModel.load(spec, plan)


__all__ = ["LTXModel", "load"]
