"""Loading and running LTX-2 with diffusers: video frames and the sound made with them.

The first module of the ``ltx2`` family that imports torch and diffusers.  Loading,
generating and unloading are :class:`wgp_diffusers.DiffusersModel`'s; :class:`LTX2Model`
says which pipeline runs a request, over the same loaded components:

* ``LTX2Pipeline``: text to video;
* ``LTX2ImageToVideoPipeline``: with ``image_start`` alone (the image is the first frame);
* ``LTX2ConditionPipeline``: with ``image_end`` or ``condition_video``: each given input
  becomes an ``LTX2VideoCondition`` (the start image at latent frame 0, the video at
  ``condition_index``, the end image at the last latent frame), as in the diffusers docs'
  first-last-frame and video-condition examples;

and turns the pipeline's waveform into the result's :class:`~wgp_hookspecs.AudioTrack`
at the vocoder's output rate, so the video writer muxes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import diffusers
from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
from diffusers.pipelines.ltx2.utils import DEFAULT_NEGATIVE_PROMPT
from wgp_hookspecs import GenerationContext, GenerationRequest, GenerationResult, LoadPlan, ModelSpec

from wgp_diffusers import DiffusersModel, audio_track, standard_kwargs

from .checks import check_layout as _check_layout

#: The pipeline a request runs with, by :func:`mode`.
PIPELINES = {
    "t2v": diffusers.LTX2Pipeline,
    "i2v": diffusers.LTX2ImageToVideoPipeline,
    "condition": diffusers.LTX2ConditionPipeline,
}


def mode(params: Mapping[str, Any]) -> str:
    """``condition`` when the request has an end image or a conditioning video, ``i2v`` with a
    start image alone, else ``t2v``."""
    if params.get("image_end") or params.get("condition_video"):
        return "condition"
    return "i2v" if params.get("image_start") else "t2v"


def load_condition_video(path: str, frames: int) -> list[Any]:
    """The conditioning video's first frames (at most the output's ``frames``) as RGB PIL images,
    decoded with PyAV; the pipeline resizes and centre-crops them to the output itself (with
    ``F.interpolate``, as the original LTX-2 code does), so they are not fitted here."""
    from wgp_diffusers.video_frames import count_frames, read_frames

    flag = "--condition-video"
    return read_frames(path, min(count_frames(path, flag), frames), flag=flag)


def call_kwargs(spec: ModelSpec, params: Mapping[str, Any], images: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The diffusers call for one request, minus generator and callback.

    Besides :func:`standard_kwargs`: ``frames`` -> ``num_frames``; ``fps`` is also the
    call's ``frame_rate`` (it scales the transformer's temporal positions and sets the
    sound's length); the audio and multimodal guidance scales; the spec's STG blocks and
    cross-timestep behaviour; a fixed schedule (``sigmas``) when ``steps`` is its length.
    ``images`` (prepared by the host's rules) are the start image (``image``) and the end
    image (``image_end``); in condition mode they and the video become ``conditions``.
    """
    kwargs = standard_kwargs(params)
    if kwargs.get("negative_prompt") is None:
        kwargs["negative_prompt"] = DEFAULT_NEGATIVE_PROMPT
    kwargs.update(
        num_frames=int(params["frames"]),
        frame_rate=float(params["fps"]),
        audio_guidance_scale=float(params["audio_guidance"]),
        stg_scale=float(params["stg_scale"]),
        audio_stg_scale=float(params["audio_stg_scale"]),
        modality_scale=float(params["modality_scale"]),
        audio_modality_scale=float(params["audio_modality_scale"]),
        guidance_rescale=float(params["guidance_rescale"]),
        audio_guidance_rescale=float(params["audio_guidance_rescale"]),
        spatio_temporal_guidance_blocks=list(spec.options.get("stg_blocks", ())),
        use_cross_timestep=bool(spec.options.get("use_cross_timestep", True)),
        max_sequence_length=int(params["max_sequence_length"]),
    )
    sigmas = spec.options.get("sigmas")
    if sigmas and int(params["steps"]) == len(sigmas):
        kwargs["sigmas"] = list(sigmas)
    images = dict(images or {})
    if mode(params) == "condition":
        conditions = []
        if "image" in images:
            conditions.append(LTX2VideoCondition(frames=images["image"], index=0, strength=1.0))
        if params.get("condition_video"):
            video = load_condition_video(params["condition_video"], int(params["frames"]))
            conditions.append(LTX2VideoCondition(frames=video, index=int(params["condition_index"]),
                                                 strength=float(params["condition_strength"])))
        if "image_end" in images:
            conditions.append(LTX2VideoCondition(frames=images["image_end"], index=-1, strength=1.0))
        kwargs["conditions"] = conditions
    elif "image" in images:
        kwargs["image"] = images["image"]
    return kwargs


def unshifted_scheduler(scheduler: Any) -> Any:
    """``scheduler`` without its resolution-dependent shift, so a fixed schedule runs as published
    (as the diffusers docs set up their scheduler for the distilled sigmas)."""
    return type(scheduler).from_config(scheduler.config, use_dynamic_shifting=False, shift_terminal=None)


class LTX2Model(DiffusersModel):
    """A loaded LTX-2 pipeline (and its image and condition twins); kept in the runner's cache."""

    #: The start image is the image pipeline's ``image``; both images are conditions in condition mode.
    image_arguments: ClassVar[Mapping[str, str]] = {"image_start": "image", "image_end": "image_end"}
    #: The recipes run bfloat16 (the diffusers docs load every LTX-2 checkpoint with dtype=torch.bfloat16).
    safe_dtypes = ("bf16", "fp32")
    #: The text-encoder outputs go through the connectors inside the call: not precomputed here.
    prompt_cache_size = 0

    @staticmethod
    def pipeline_class(spec: ModelSpec, with_image: bool | str = False) -> type:
        """LTX2Pipeline, LTX2ImageToVideoPipeline with an image, or the class of a :func:`mode`."""
        if isinstance(with_image, str):
            return PIPELINES[with_image]
        return PIPELINES["i2v" if with_image else "t2v"]

    @staticmethod
    def check_layout(spec: ModelSpec, pipe: Any, location: str) -> None:
        """Refuse weights of the other LTX-2 version (see :mod:`wgp_ltx.ltx2.checks`)."""
        _check_layout(spec, pipe, location)

    def generate(self, request: GenerationRequest, context: GenerationContext) -> GenerationResult:
        self._mode = mode(request.params)
        return super().generate(request, context)

    def pipeline_for(self, with_image: bool | str) -> Any:
        # Called by generate with "has images"; the request's mode says which of three pipelines.
        return super().pipeline_for(getattr(self, "_mode", "i2v" if with_image else "t2v"))

    def pipeline_kwargs(self, params: Mapping[str, Any], images: Mapping[str, Any] | None = None) -> dict[str, Any]:  # type: ignore[override]
        return call_kwargs(self.spec, params, images)

    def prepare(self, pipe: Any, params: Mapping[str, Any]) -> None:
        """Give a fixed schedule (the distilled sigmas) an unshifted scheduler; else the loaded one."""
        sigmas = self.spec.options.get("sigmas")
        if not hasattr(self, "_schedulers"):
            self._schedulers = {"loaded": self.pipe.scheduler, "fixed": unshifted_scheduler(self.pipe.scheduler)}
        fixed = bool(sigmas) and int(params["steps"]) == len(sigmas)
        pipe.scheduler = self._schedulers["fixed" if fixed else "loaded"]

    def result(self, output: Any, params: Mapping[str, Any]) -> GenerationResult:
        """The frames (at ``params["fps"]``) and the sound made with them."""
        result = super().result(output, params)
        if getattr(output, "audio", None) is not None:
            track = audio_track(output.audio, int(self.running_pipe.vocoder.config.output_sampling_rate))
            result.audio = [track]
            result.metadata["audio_tracks"] = [{"sample_rate": track.sample_rate, "channels": track.channels,
                                                "duration_s": round(track.duration_s, 3)}]
        return result


def load(spec: ModelSpec, plan: LoadPlan) -> LTX2Model:
    """Load ``spec`` as ``plan`` says (see :meth:`DiffusersModel.load`)."""
    return LTX2Model.load(spec, plan)


__all__ = ["LTX2Model", "PIPELINES", "call_kwargs", "load", "mode", "unshifted_scheduler"]
