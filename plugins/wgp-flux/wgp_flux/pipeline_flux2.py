"""Loading and running FLUX.2 ([dev] and [klein]) with diffusers.

:class:`Flux2Model` is a :class:`wgp_diffusers.DiffusersModel` like FLUX.1's: it says which
pipeline runs an id (``Flux2Pipeline`` or ``Flux2KleinPipeline``), how a request becomes its
call (:meth:`Flux2Model.pipeline_kwargs`, also used by the tests' direct calls) and which
weights fit.  Reference images are a list, so they are not the base class's single
``image_arguments``: the pipeline takes ``image=[...]`` and sizes and crops each one itself
(at most 1024x1024's area, multiples of 16), the output keeps the requested size.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any, ClassVar

import diffusers
from wgp_hookspecs import GenerationContext, GenerationRequest, GenerationResult, LoadPlan, ModelSpec, UserError

from wgp_diffusers import DiffusersModel, standard_kwargs
from wgp_diffusers.configs import pipeline_configs, read_configs

from .layout import check_configs
from .references import reference_paths


def reference_images(paths: list[str]) -> list[Any]:
    """The reference images as RGB PIL images, as a diffusers user loads them (EXIF orientation applied)."""
    from diffusers.utils import load_image

    return [load_image(path) for path in paths]


def has_torchvision() -> bool:
    return importlib.util.find_spec("torchvision") is not None


def check_tokenizer(location: str) -> None:
    """FLUX.2 [dev]'s tokenizer is transformers' ``PixtralProcessor``, whose module imports
    torchvision: without it ``from_pretrained`` fails deep inside with an ImportError.  Said in one
    line before any weight is read."""
    configs = read_configs(location) or {}
    tokenizer = (configs.get("model_index") or {}).get("tokenizer") or [None, None]
    if tokenizer[-1] == "PixtralProcessor" and not has_torchvision():
        raise UserError(f"weights at {location}: the FLUX.2 [dev] tokenizer (transformers PixtralProcessor) needs "
                        "torchvision; install the build that matches your torch (pip install torchvision==...)")


class Flux2Model(DiffusersModel):
    """A loaded FLUX.2 pipeline; kept in the runner's cache between jobs."""

    #: Reference images are a list, loaded by :meth:`pipeline_kwargs` (the pipeline crops them itself).
    image_arguments: ClassVar[Mapping[str, str]] = {}
    crop_images = False
    #: With VAE tiling on auto, images up to 2048x2048 are decoded whole (1024x1024 needs no tiles).
    auto_tiling_pixels = 2048 * 2048
    #: Black Forest Labs' and diffusers' examples load every FLUX.2 model in torch.bfloat16; fp16 is untested.
    safe_dtypes = ("bf16", "fp32")
    #: The prompt is cut after the chat template and (for [dev]) a system message are added, so a
    #: token count of the prompt alone would misreport; no cut report.
    prompt_tokenizer = None
    #: One text encoder (Mistral Small 3.x for [dev], Qwen3 for [klein]).
    text_encoders = ("text_encoder",)

    @staticmethod
    def pipeline_class(spec: ModelSpec, with_image: bool = False) -> type:
        """Flux2KleinPipeline for [klein], Flux2Pipeline for [dev]; the same with and without references."""
        return diffusers.Flux2KleinPipeline if spec.options.get("pipeline") == "klein" else diffusers.Flux2Pipeline

    @staticmethod
    def pipeline_kwargs(params: Mapping[str, Any], images: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The diffusers call for one request, minus generator and callback.

        Besides :func:`standard_kwargs`: ``batch_size`` -> ``num_images_per_prompt``,
        ``max_sequence_length``, and ``reference_images`` -> ``image`` (a list of PIL images).
        The text encoder's output layers are the pipelines' defaults (the official ones).
        """
        kwargs = standard_kwargs(params)
        kwargs["num_images_per_prompt"] = int(params["batch_size"])
        kwargs["max_sequence_length"] = int(params["max_sequence_length"])
        paths = reference_paths(params)
        if paths:
            kwargs["image"] = reference_images(paths)
        return kwargs

    @classmethod
    def load(cls, spec: ModelSpec, plan: LoadPlan) -> DiffusersModel:
        """:meth:`DiffusersModel.load` (which refuses the caches FLUX.2 declares it cannot take), after
        the tokenizer's torchvision check."""
        check_tokenizer(plan.weights or spec.weights)
        return super().load(spec, plan)

    def prepare(self, pipe: Any, params: Mapping[str, Any]) -> None:
        """With a step cache on [dev]: open one cache context for the call (closed by :meth:`generate`).

        diffusers' step caches (``--cache seacache`` ...) keep their state per cache context, which
        Flux2KleinPipeline (like FluxPipeline) opens around each transformer pass and Flux2Pipeline
        does not (it fails with "No cache context is set").  [dev] makes one pass per step, so one
        context around the call, named as Klein names its conditional pass, is the same thing.  It
        is opened here, after the per-job cache reset (which clears a context)."""
        transformer = getattr(pipe, "transformer", None)
        if self.spec.options.get("pipeline") == "flux2" and getattr(transformer, "is_cache_enabled", False):
            self._cache_context = transformer.cache_context("cond")
            self._cache_context.__enter__()

    def generate(self, request: GenerationRequest, context: GenerationContext) -> GenerationResult:
        """:meth:`DiffusersModel.generate`, closing the cache context :meth:`prepare` opened."""
        try:
            return super().generate(request, context)
        finally:
            opened, self._cache_context = getattr(self, "_cache_context", None), None
            if opened is not None:
                opened.__exit__(None, None, None)

    def encodes_negative(self, kwargs: Mapping[str, Any]) -> bool:
        """Only [klein] Base runs classifier-free guidance (an empty negative prompt, when guidance > 1);
        [dev]'s guidance is embedded and distilled [klein] ignores it: the pipelines' own rule."""
        config = getattr(self.pipe, "config", {}) or {}
        distilled = bool(config.get("is_distilled", self.spec.options.get("distilled", True)))
        return (self.spec.options.get("pipeline") == "klein" and not distilled
                and float(kwargs.get("guidance_scale", 1.0)) > 1.0)

    def encode_prompt(self, pipe: Any, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
        """``pipe.encode_prompt`` called as ``__call__`` calls it: the prompt's embeddings (and, for
        [klein] Base under guidance, the empty negative prompt's), repeated for the batch; the call then
        asks for one image per (repeated) embedding, which gives the same latents and images."""
        import torch

        def encode(prompt: str) -> Any:
            embeds, _ = pipe.encode_prompt(
                prompt=prompt,
                device=pipe._execution_device,
                num_images_per_prompt=int(kwargs.get("num_images_per_prompt", 1)),
                max_sequence_length=int(kwargs["max_sequence_length"]),
            )
            return embeds

        with torch.no_grad():
            out = {"prompt_embeds": encode(kwargs["prompt"])}
            if self.encodes_negative(kwargs):
                out["negative_prompt_embeds"] = encode("")
        out["num_images_per_prompt"] = 1
        return out

    @staticmethod
    def check_layout(spec: ModelSpec, pipe: Any, location: str) -> None:
        """Refuse weights of another Flux model by the door's rule (:mod:`wgp_flux.layout`)."""
        configs = {**pipeline_configs(pipe, ("transformer",)), **(read_configs(location, ("transformer",)) or {})}
        if "model_index" not in configs and getattr(pipe, "config", None) is not None:
            # Loaded from a folder the door could not read: the pipeline's own config still says is_distilled.
            configs["model_index"] = {"_class_name": type(pipe).__name__, **dict(pipe.config)}
        check_configs(spec, configs, location)


__all__ = ["Flux2Model", "check_tokenizer", "reference_images"]
