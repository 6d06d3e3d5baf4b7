"""Loading and running Qwen-Image models with diffusers.

The first module of this plugin that imports torch and diffusers; the host reaches it only
through ``load``.  Loading, generating and unloading are :class:`wgp_diffusers.DiffusersModel`'s;
:class:`QwenModel` says which pipeline runs a model, how a request becomes its call
(:meth:`QwenModel.pipeline_kwargs`, also used by the tests' direct calls) and which weights fit
which id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import diffusers
from wgp_hookspecs import LoadPlan, ModelSpec

from wgp_diffusers import DiffusersModel, standard_kwargs
from wgp_diffusers.configs import pipeline_configs, read_configs

from .layout import check_configs

PIPELINES = {
    "text": diffusers.QwenImagePipeline,
    "edit": diffusers.QwenImageEditPipeline,
    "edit_plus": diffusers.QwenImageEditPlusPipeline,
}


class QwenModel(DiffusersModel):
    """A loaded Qwen-Image pipeline; kept in the runner's cache between jobs."""

    #: Qwen-Image-Edit's image: ``image_start`` (``--image-start``) is the pipeline's ``image``.
    #: Edit-2509/2511's list (``reference_images``) is opened by :meth:`pipeline_kwargs`.
    image_arguments: ClassVar[Mapping[str, str]] = {"image_start": "image"}
    #: The Edit pipelines resize each image to 1024x1024's area at its own aspect ratio (and to
    #: 384x384's for the prompt encoder): never cropped to the output's shape.
    crop_images = False
    #: With VAE tiling on auto, images up to 2048x2048 are decoded whole (1328x1328 needs no tiles).
    auto_tiling_pixels = 2048 * 2048
    #: The README's examples load every model in torch.bfloat16 on CUDA and float32 on a CPU.
    safe_dtypes = ("bf16", "fp32")
    text_encoders = ("text_encoder",)

    @staticmethod
    def pipeline_class(spec: ModelSpec, with_image: bool = False) -> type:
        """QwenImagePipeline, QwenImageEditPipeline or QwenImageEditPlusPipeline, by ``options["pipeline"]``."""
        return PIPELINES[spec.options["pipeline"]]

    @staticmethod
    def pipeline_kwargs(params: Mapping[str, Any], images: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The diffusers call for one request, minus generator and callback.

        Besides :func:`standard_kwargs`: ``guidance`` is ``true_cfg_scale`` (no Qwen-Image
        transformer takes a distilled ``guidance_scale``), ``batch_size`` ->
        ``num_images_per_prompt``, ``max_sequence_length`` (text-to-image), and the images:
        ``image_start`` (opened by the caller, ``images``) or every ``reference_images`` file,
        in order, as diffusers' ``load_image`` opens them.
        """
        from diffusers.utils import load_image

        kwargs = standard_kwargs(params)
        kwargs["true_cfg_scale"] = float(kwargs.pop("guidance_scale"))
        if kwargs["true_cfg_scale"] <= 1.0:
            # Without true CFG the pipeline ignores a negative prompt (and logs that it does).
            kwargs.pop("negative_prompt", None)
        kwargs["num_images_per_prompt"] = int(params["batch_size"])
        if params.get("max_sequence_length") is not None:
            kwargs["max_sequence_length"] = int(params["max_sequence_length"])
        if images:
            kwargs.update(images)
        if params.get("reference_images"):
            kwargs["image"] = [load_image(str(path)) for path in params["reference_images"]]
        return kwargs

    def encodes_negative(self, kwargs: Mapping[str, Any]) -> bool:
        """True CFG runs with ``true_cfg_scale > 1`` and a negative prompt (the pipelines' rule)."""
        return float(kwargs.get("true_cfg_scale", 1.0)) > 1.0 and kwargs.get("negative_prompt") is not None

    def prompt_warnings(self, pipe: Any, kwargs: Mapping[str, Any]) -> list[str]:
        """Cut prompts are reported for text-to-image only: the Edit pipelines do not cut at
        ``max_sequence_length`` (they encode the whole prompt with its images)."""
        return super().prompt_warnings(pipe, kwargs) if "max_sequence_length" in kwargs else []

    def encode_prompt(self, pipe: Any, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """For text-to-image, ``pipe.encode_prompt`` as the pipeline's ``__call__`` calls it, for the
        prompt and, under true CFG, the negative prompt.  The Edit models' prompt embeddings
        depend on their images (Qwen2.5-VL sees them), which the cache key does not hold: None.

        The embeddings come out repeated for the batch, so the call then asks for one image
        per (repeated) prompt: the same latents, the same images."""
        if not isinstance(pipe, diffusers.QwenImagePipeline):
            return None
        import torch

        def encode(prompt: str) -> tuple[Any, Any]:
            embeds, mask = pipe.encode_prompt(
                prompt=prompt,
                device=pipe._execution_device,
                num_images_per_prompt=int(kwargs.get("num_images_per_prompt", 1)),
                max_sequence_length=int(kwargs["max_sequence_length"]),
            )
            # encode_prompt drops a mask with no padding (None); the pipeline, given embeddings
            # without one, warns on every call.  All ones is dropped again: the same computation.
            if mask is None:
                mask = torch.ones(embeds.shape[:2], dtype=torch.long, device=embeds.device)
            return embeds, mask

        with torch.no_grad():
            out = dict(zip(("prompt_embeds", "prompt_embeds_mask"), encode(kwargs["prompt"])))
            if self.encodes_negative(kwargs):
                out.update(zip(("negative_prompt_embeds", "negative_prompt_embeds_mask"), encode(kwargs["negative_prompt"])))
        out["num_images_per_prompt"] = 1
        return out

    @classmethod
    def preloaded_components(cls, spec: ModelSpec, location: str) -> dict[str, Any]:
        """The Edit models' ``processor`` (Qwen2VLProcessor) built from its saved parts where
        transformers cannot load it (no torchvision: see :mod:`wgp_diffusers.processors`)."""
        if spec.options["pipeline"] == "text":
            return {}
        processor = edit_processor(location)
        return {} if processor is None else {"processor": processor}

    @staticmethod
    def check_layout(spec: ModelSpec, pipe: Any, location: str) -> None:
        """Refuse weights of another Qwen-Image model by the door's rule (:mod:`wgp_qwen.layout`),
        for weights the door could not read."""
        configs = {**pipeline_configs(pipe, ("transformer",)), **(read_configs(location, ("transformer",)) or {})}
        check_configs(spec, configs, location)


def edit_processor(location: str) -> Any | None:
    """The Edit pipelines' ``processor`` folder at ``location`` as a Qwen2VLProcessor built without
    torchvision (its tokenizer files, else the pipeline's ``tokenizer``), or None with torchvision."""
    from wgp_hookspecs import UserError

    from wgp_diffusers.processors import load_processor

    try:
        return load_processor("Qwen2VLProcessor", location, "processor", tokenizer_location=(location, "tokenizer"))
    except OSError as exc:
        raise UserError(f"cannot load weights from {location}: {str(exc).strip().splitlines()[0]}") from exc


def load(spec: ModelSpec, plan: LoadPlan) -> QwenModel:
    """Load ``spec`` as ``plan`` says (see :meth:`DiffusersModel.load`)."""
    return QwenModel.load(spec, plan)


__all__ = ["PIPELINES", "QwenModel", "edit_processor", "load"]
