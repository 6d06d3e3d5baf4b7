"""Wan 2.2 Animate with diffusers' ``WanAnimatePipeline``: a character image moved by a pose
video and a face video, or put in place of the person of a background video.

The inputs are those the official preprocessing (Wan 2.2 ``wan/modules/animate/preprocess``)
writes: ``pose_video`` (src_pose: the skeleton, one frame per output frame), ``face_video``
(src_face: the face crops), and for replacement ``background_video`` (src_bg) with
``mask_video`` (src_mask, white where the character goes); ``image_start`` is the character.
With both replacement inputs the pipeline runs in ``mode="replace"``, else ``"animate"``.

The video is made in segments of ``segment_frames`` (each a full denoising pass of
``steps`` steps, the last ``segment_overlap`` frames of one conditioning the next), so a
job reports ``steps`` steps per segment, counted from 1 again for each.  The output has
``frames`` frames, by default as many as the pose video.  The request becomes the diffusers
call in one public place, :func:`pipeline_kwargs` (fed by :func:`load_media`), which the
tests' direct diffusers calls use too; the door checks are in :mod:`wgp_wan.checks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from wgp_hookspecs import GenerationRequest, ModelSpec, UserError

from wgp_diffusers import standard_kwargs
from wgp_diffusers.video_frames import read_frames, read_mask

from . import pipeline as wan


def load_media(params: Mapping[str, Any]) -> dict[str, Any]:
    """The request's media as WanAnimatePipeline takes them, keyed by its argument names.

    ``image``: the character as ``diffusers.utils.load_image`` opens it (the pipeline fits it
    into the frame itself, without cropping); ``pose_video`` and ``background_video``: their
    first ``frames`` frames (all of the pose video when ``frames`` is not set), centre-cropped to
    the output's aspect ratio and resized to it; ``mask_video``: as many grey frames fitted the
    same way (a still mask is used for every frame); ``face_video``: as many frames at their
    own size (the pipeline resizes them to its motion encoder's input).
    """
    from diffusers.utils import load_image

    width, height = int(params["width"]), int(params["height"])
    count = int(params["frames"]) if params.get("frames") else None
    pose = read_frames(params["pose_video"], count, width, height, flag="--pose-video")
    count = len(pose)
    media: dict[str, Any] = {
        "image": load_image(str(params["image_start"])),
        "pose_video": pose,
        "face_video": read_frames(params["face_video"], count, flag="--face-video"),
    }
    background, mask = params.get("background_video"), params.get("mask_video")
    if bool(background) != bool(mask):  # the door refuses this; kept for direct callers
        raise UserError("replacing a person needs both --background-video and --mask-video")
    if background:
        media["background_video"] = read_frames(background, count, width, height, flag="--background-video")
        media["mask_video"] = read_mask(mask, count, width, height, flag="--mask-video")
    return media


def pipeline_kwargs(params: Mapping[str, Any] | GenerationRequest, media: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The WanAnimatePipeline call's keyword arguments for one request, minus generator and callback.

    ``segment_frames`` -> ``segment_frame_length``, ``segment_overlap`` ->
    ``prev_segment_conditioning_frames``, ``mode`` ``replace`` when ``media`` has a background
    video, and the ``media`` of :func:`load_media`.
    """
    if isinstance(params, GenerationRequest):
        params = params.params
    kwargs = standard_kwargs(params)
    kwargs["segment_frame_length"] = int(params["segment_frames"])
    kwargs["prev_segment_conditioning_frames"] = int(params["segment_overlap"])
    media = dict(media or {})
    kwargs["mode"] = "replace" if media.get("background_video") is not None else "animate"
    kwargs.update(media)
    return kwargs


def check_layout(spec: ModelSpec, pipe: Any, location: str) -> None:
    """Refuse weights that are not a Wan Animate checkpoint."""
    wan.check_layout(spec, pipe, location)
    name = type(getattr(pipe, "transformer", None)).__name__
    if name != "WanAnimateTransformer3DModel":
        raise UserError(f"weights at {location} do not match {spec.id}: its transformer is {name}, "
                        "not WanAnimateTransformer3DModel (a Wan 2.2 Animate checkpoint)")


class AnimateModel(wan.WanModel):
    """A loaded Wan Animate pipeline; reads the request's character image and videos."""

    #: None through the shared image path: the character is read (uncropped) by load_media.
    image_arguments: ClassVar[Mapping[str, str]] = {}
    check_layout = staticmethod(check_layout)

    def pipeline_kwargs(self, params: Mapping[str, Any], images: Mapping[str, Any] | None = None) -> dict[str, Any]:  # type: ignore[override]
        # The character image is the pipeline's own to fit (no crop): read here with the videos.
        return pipeline_kwargs(params, load_media(params))


__all__ = ["AnimateModel", "check_layout", "load_media", "pipeline_kwargs"]
