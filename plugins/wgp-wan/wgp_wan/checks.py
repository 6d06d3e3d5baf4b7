"""Checks a Wan request needs beyond its parameter schema, run before any weight is loaded.

The schema already enforces types, ranges, the 4n+1 frame rule and which
images a model takes; the host has opened and verified every media file (an empty
file, a text file given as a video, a missing file never get here).  What is left
depends on the files' contents: whether the images are readable, whether a
control, pose, face, background or mask video has the frames the request needs, and
which inputs need each other.  The size that follows the start image, and the crops,
are the model's ``size_rule`` (``wgp_diffusers.sizing``).  Torch-free: PyAV and Pillow,
imported when a file is checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec, UserError

from wgp_diffusers import image_size
from wgp_diffusers.sizing import crop_note


def check(spec: ModelSpec, params: Mapping[str, Any]) -> list[str]:
    """Raise :class:`UserError` for an image that cannot be read or a video too short for the
    request; returns warnings (a control video that is cropped to the output's shape).

    Which images a model takes is the parameter schema's rule (``image_start``
    is required on image models, ``image_end`` exists only on first-last-frame
    ones), checked before this runs.  Left here: every image must be a file
    Pillow can read.  Nothing is stretched: the images are cropped to the output
    (``fit_size`` reports it).
    """
    for flag, path in (("--image-start", params.get("image_start")), ("--image-end", params.get("image_end"))):
        if path:
            image_size(path, flag)
    kind = spec.options.get("pipeline")
    if kind == "vace":
        return check_vace(params)
    if kind == "animate":
        return check_animate(params)
    if kind == "animate2":
        from .animate2 import check as check_animate2

        return check_animate2(spec, params)
    return []


def check_vace(params: Mapping[str, Any]) -> list[str]:
    """A control video of at least ``frames`` frames (the first ``frames`` are used), a mask only
    with a control video, and a mask video as long; the crops of the control video."""
    video, mask = params.get("control_video"), params.get("mask_video")
    if mask and not video:
        raise UserError("--mask-video needs --control-video: the mask marks which parts of the control video are generated anew")
    frames = int(params["frames"])
    warnings: list[str] = []
    if video:
        _enough_frames("--control-video", video, frames, "--frames is {need}; give a longer video or --frames {fit}")
        warnings += _crop_warnings("--control-video", video, params)
    if mask:
        _enough_frames("--mask-video", mask, frames, "--frames is {need}; give a mask as long as the control video, or an image")
    return warnings


def check_animate(params: Mapping[str, Any]) -> list[str]:
    """A pose video of at least ``frames`` frames (``frames`` unset: the pose video's length), face,
    background and mask videos as long, more frames than ``segment_overlap``, and the two
    replacement inputs together."""
    from wgp_diffusers.video_frames import count_frames

    pose = params["pose_video"]
    have = count_frames(pose, "--pose-video")
    frames = int(params.get("frames") or have)
    if frames > have:
        raise UserError(f"--pose-video: {pose} has {have} frames but --frames is {frames}; "
                        "give a longer pose video or leave --frames out (all its frames)")
    overlap = int(params.get("segment_overlap") or 1)
    segment = int(params.get("segment_frames") or 77)
    if segment <= 2 * overlap:
        # WanAnimatePipeline counts segments as padded frames // (segment - overlap): below this it
        # plans a segment too many and fails on its own assertion.
        raise UserError(f"segment_frames ({segment}) must be more than twice segment_overlap ({overlap}); "
                        f"use --set segment_frames={(2 * overlap // 4 + 1) * 4 + 1} or more")
    if frames <= overlap:
        raise UserError(f"frames: Wan Animate needs more frames than segment_overlap ({overlap}); got {frames}")
    source = "--frames is {need}" if params.get("frames") else "the pose video has {need}"
    _enough_frames("--face-video", params["face_video"], frames,
                   source + "; give the face video made from the same video as the pose video")
    background, mask = params.get("background_video"), params.get("mask_video")
    if bool(background) != bool(mask):
        raise UserError("replacing a person needs both --background-video and --mask-video "
                        f"(got only {'--background-video' if background else '--mask-video'})")
    warnings = _crop_warnings("--pose-video", pose, params)
    if background:
        _enough_frames("--background-video", background, frames, source)
        _enough_frames("--mask-video", mask, frames, source + "; give a mask as long, or an image")
        warnings += _crop_warnings("--background-video", background, params)
    return warnings


def _enough_frames(flag: str, path: str, need: int, advice: str) -> None:
    """UserError unless the video at ``path`` has ``need`` frames (a still image mask always does)."""
    from wgp_diffusers.video_frames import count_frames, is_still_image

    if is_still_image(path):
        return
    have = count_frames(path, flag)
    if have < need:
        fit = max(1, (have - 1) // 4 * 4 + 1)  # the longest 4n+1 the video covers
        raise UserError(f"{flag}: {path} has {have} frames, fewer than needed: " + advice.format(need=need, fit=fit))


def _crop_warnings(flag: str, path: str, params: Mapping[str, Any]) -> list[str]:
    from wgp_diffusers.video_frames import frame_size

    note = crop_note(flag, frame_size(path, flag), (int(params["width"]), int(params["height"])))
    return [note] if note else []
