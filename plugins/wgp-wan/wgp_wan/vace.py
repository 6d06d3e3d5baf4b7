"""Wan 2.1 VACE with diffusers' ``WanVACEPipeline``: text-to-video steered by a control video,
a mask and reference images.

What VACE adds to a text-to-video request is media: ``control_video`` (the frames that guide
the output: a pose, depth or edge video, or a video to edit), ``mask_video`` (an image or a
video, white where the control video is generated anew, black where it is kept) and
``reference_images`` (subjects or a background the video shows).  Without any of them VACE
is a plain text-to-video model.  As for the other Wan models, the request becomes a
diffusers call in one public place, :func:`pipeline_kwargs` (fed by :func:`load_media`),
which the tests' direct diffusers calls use too.  The door checks (frame counts, a mask
without a control video) are in :mod:`wgp_wan.checks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import GenerationRequest, ModelSpec, UserError

from wgp_diffusers.video_frames import read_frames, read_mask

from . import pipeline as wan

def load_media(params: Mapping[str, Any]) -> dict[str, Any]:
    """The request's media as WanVACEPipeline takes them, keyed by its argument names.

    ``video``: the first ``frames`` frames of the control video, centre-cropped to the output's
    aspect ratio and resized to it (:func:`wgp_diffusers.video_frames.read_frames`); ``mask``: as
    many grey frames, fitted the same way (a still mask is used for every frame);
    ``reference_images``: RGB images as ``diffusers.utils.load_image`` opens them, at their own
    size: the pipeline fits each into the frame on a white canvas, as the official code does.
    """
    from diffusers.utils import load_image

    frames, width, height = int(params["frames"]), int(params["width"]), int(params["height"])
    media: dict[str, Any] = {}
    if params.get("control_video"):
        media["video"] = read_frames(params["control_video"], frames, width, height, flag="--control-video")
        if params.get("mask_video"):
            media["mask"] = read_mask(params["mask_video"], frames, width, height, flag="--mask-video")
    elif params.get("mask_video"):  # the door refuses this; kept for direct callers
        raise UserError("--mask-video needs --control-video: the mask marks which parts of the control video are generated anew")
    references = params.get("reference_images") or []
    if isinstance(references, str):
        references = [references]
    if references:
        media["reference_images"] = [load_image(str(path)) for path in references]
    return media


def pipeline_kwargs(params: Mapping[str, Any] | GenerationRequest, media: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The WanVACEPipeline call's keyword arguments for one request, minus generator and callback:
    those of every Wan model (:func:`wgp_wan.pipeline.pipeline_kwargs`), ``conditioning_scale``, and
    the ``media`` of :func:`load_media`."""
    if isinstance(params, GenerationRequest):
        params = params.params
    kwargs = wan.pipeline_kwargs(params)
    kwargs["conditioning_scale"] = float(params.get("conditioning_scale", 1.0))
    kwargs.update(media or {})
    return kwargs


def check_layout(spec: ModelSpec, pipe: Any, location: str) -> None:
    """Refuse weights that are not a VACE checkpoint (a plain Wan 2.1 folder given as ``--model-path``)."""
    wan.check_layout(spec, pipe, location)
    name = type(getattr(pipe, "transformer", None)).__name__
    if name != "WanVACETransformer3DModel":
        raise UserError(f"weights at {location} do not match {spec.id}: its transformer is {name}, "
                        "not WanVACETransformer3DModel (a Wan 2.1 VACE checkpoint)")


class VaceModel(wan.WanModel):
    """A loaded Wan VACE pipeline; reads the request's control video, mask and reference images."""

    check_layout = staticmethod(check_layout)

    def pipeline_kwargs(self, params: Mapping[str, Any], images: Mapping[str, Any] | None = None) -> dict[str, Any]:  # type: ignore[override]
        # VACE has no image_arguments: its media are read here, per request.
        return pipeline_kwargs(params, load_media(params))


__all__ = ["VaceModel", "check_layout", "load_media", "pipeline_kwargs"]
