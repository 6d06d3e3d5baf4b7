"""Loading and running LTX-2.5 with diffusers' ``LTX25ModularPipeline``: frames and their sound.

Loading, steps, cancel, levers and offload are :class:`wgp_diffusers.ModularDiffusersModel`'s;
:class:`LTX25Model` says how a request becomes the modular call (:func:`call_kwargs`), sets
the two guider components the blocks take their guidance from (:func:`guiders`), and turns
the ``videos`` and ``audio`` outputs into frames and an :class:`~wgp_hookspecs.AudioTrack` at
the vocoder's output rate.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar

from wgp_hookspecs import GenerationResult, LoadPlan, ModelSpec

from wgp_diffusers import ModularDiffusersModel, audio_track, to_uint8_video


def call_kwargs(params: Mapping[str, Any], images: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The modular call for one request, minus generator and ``output``; ``fps`` is also the
    call's ``frame_rate``; the start image is ``image`` (the blocks' image-to-video workflow)."""
    from diffusers.pipelines.ltx2.utils import DEFAULT_NEGATIVE_PROMPT

    negative = params.get("negative_prompt")
    kwargs: dict[str, Any] = {
        "prompt": params["prompt"],
        "negative_prompt": DEFAULT_NEGATIVE_PROMPT if negative is None else negative,
        "height": int(params["height"]),
        "width": int(params["width"]),
        "num_frames": int(params["frames"]),
        "frame_rate": float(params["fps"]),
        "num_inference_steps": int(params["steps"]),
        "max_sequence_length": int(params["max_sequence_length"]),
        "output_type": "np",
    }
    kwargs.update(images or {})
    return kwargs


def guiders(params: Mapping[str, Any], stg_blocks: tuple[int, ...]) -> dict[str, Any]:
    """The ``guider`` and ``audio_guider`` components for one request (the LTX-2.5 blocks take
    their guidance scales from them, not from call arguments)."""
    from diffusers.guiders.ltx2_guidance import LTX2Guidance

    return {
        "guider": LTX2Guidance(
            guidance_scale=float(params["guidance"]), stg_scale=float(params["stg_scale"]),
            modality_scale=float(params["modality_scale"]), guidance_rescale=float(params["guidance_rescale"]),
            spatio_temporal_guidance_blocks=list(stg_blocks)),
        "audio_guider": LTX2Guidance(
            guidance_scale=float(params["audio_guidance"]), stg_scale=float(params["audio_stg_scale"]),
            modality_scale=float(params["audio_modality_scale"]),
            guidance_rescale=float(params["audio_guidance_rescale"]), spatio_temporal_guidance_blocks=list(stg_blocks)),
    }


@functools.cache
def pipeline_class() -> type:
    """diffusers' ``LTX25ModularPipeline``, except that only the components the weights list are
    required: the LTX-2.5 blocks also declare the optional prompt enhancer and its processor
    (used only with ``enable_prompt_enhancement``), which a checkpoint may leave out."""
    import diffusers

    class LTX25ModularPipeline(diffusers.LTX25ModularPipeline):
        @property
        def pretrained_component_names(self) -> list[str]:
            specs = self._component_specs
            return [name for name in super().pretrained_component_names
                    if specs[name].pretrained_model_name_or_path is not None]

    LTX25ModularPipeline.__qualname__ = "LTX25ModularPipeline"
    return LTX25ModularPipeline


class LTX25Model(ModularDiffusersModel):
    """A loaded LTX-2.5 modular pipeline; kept in the runner's cache."""

    image_arguments: ClassVar[Mapping[str, str]] = {"image_start": "image"}
    outputs: ClassVar[tuple[str, ...]] = ("videos", "audio")
    #: The diffusers docs load every LTX-2.x checkpoint with dtype=torch.bfloat16.
    safe_dtypes = ("bf16", "fp32")

    @staticmethod
    def modular_class(spec: ModelSpec) -> type:
        return pipeline_class()

    @staticmethod
    def pipeline_kwargs(params: Mapping[str, Any], images: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return call_kwargs(params, images)

    def prepare(self, pipe: Any, params: Mapping[str, Any]) -> None:
        pipe.update_components(**guiders(params, tuple(self.spec.options.get("stg_blocks", ()))))

    def result(self, outputs: Mapping[str, Any], params: Mapping[str, Any]) -> GenerationResult:  # type: ignore[override]
        result = GenerationResult(video=to_uint8_video(outputs["videos"]), fps=float(params["fps"]))
        if outputs.get("audio") is not None:
            track = audio_track(outputs["audio"], int(self.pipe.vocoder.config.output_sampling_rate))
            result.audio = [track]
            result.metadata["audio_tracks"] = [{"sample_rate": track.sample_rate, "channels": track.channels,
                                                "duration_s": round(track.duration_s, 3)}]
        return result


def load(spec: ModelSpec, plan: LoadPlan) -> LTX25Model:
    """Load ``spec`` as ``plan`` says (see :meth:`ModularDiffusersModel.load`)."""
    return LTX25Model.load(spec, plan)


__all__ = ["LTX25Model", "call_kwargs", "guiders", "load", "pipeline_class"]
