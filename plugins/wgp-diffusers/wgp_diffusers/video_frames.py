"""Conditioning videos and masks read as the PIL frames a diffusers pipeline takes.

A control video (VACE), a pose or face video (Wan Animate) or a mask is a file the host has
already opened and verified at the door (:mod:`wgp_host.inputs`); what a family needs is
its frames, in order, fitted to the output the way conditioning images are
(:func:`wgp_diffusers.sizing.prepare_image`: centre-cropped to the output's aspect ratio,
then resized; never stretched).  Frames are taken in decoding order from the first; the
file's frame rate is not resampled (frame *n* of the input conditions frame *n* of the
output), so a family asks for as many frames as it generates.

:func:`count_frames` and :func:`frame_size` are for the door (a family's ``check``):
PyAV only, no torch, and no decoding where the container knows its frame count.
"""

from __future__ import annotations

import os
from typing import Any

from wgp_hookspecs import UserError

from .sizing import prepare_image

def _open(path: str | os.PathLike[str], flag: str) -> Any:
    import av

    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise UserError(f"{flag}: cannot open {path} as a video ({exc})") from None


def is_still_image(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a still image (Pillow reads it and it has one frame), not a video."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(str(path)) as image:
            return int(getattr(image, "n_frames", 1)) == 1
    except (UnidentifiedImageError, OSError, ValueError):
        return False


def count_frames(path: str | os.PathLike[str], flag: str = "video") -> int:
    """The number of video frames in ``path``: the container's count where it keeps one (MP4),
    else its video packets counted without decoding (MKV, WebM).  A still image counts as 1."""
    if is_still_image(path):
        return 1
    with _open(path, flag) as container:
        if not container.streams.video:
            raise UserError(f"{flag}: {path} has no video stream")
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        return sum(1 for packet in container.demux(stream) if packet.size)


def frame_size(path: str | os.PathLike[str], flag: str = "video") -> tuple[int, int]:
    """(width, height) of the frames of the video (or still image) at ``path``."""
    if is_still_image(path):
        from PIL import Image

        with Image.open(str(path)) as image:
            return image.size
    with _open(path, flag) as container:
        if not container.streams.video:
            raise UserError(f"{flag}: {path} has no video stream")
        stream = container.streams.video[0]
        return int(stream.codec_context.width), int(stream.codec_context.height)


def read_frames(
    path: str | os.PathLike[str],
    count: int | None = None,
    width: int | None = None,
    height: int | None = None,
    mode: str = "RGB",
    flag: str = "video",
) -> list[Any]:
    """The first ``count`` frames (all with None) of the video at ``path`` as PIL images in
    ``mode`` (``RGB``, or ``L`` for a mask), fitted to ``width`` x ``height`` when both are given.

    Fewer frames than ``count`` is an error naming ``flag``: a family checks that at the door
    (:func:`count_frames`), this is the worker's guard for a file that changed since.
    """
    frames: list[Any] = []
    with _open(path, flag) as container:
        if not container.streams.video:
            raise UserError(f"{flag}: {path} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frames.append(_fit(frame.to_image().convert(mode), width, height))
            if count is not None and len(frames) == count:
                break
    if count is not None and len(frames) < count:
        raise UserError(f"{flag}: {path} has {len(frames)} frames, {count} needed")
    return frames


def read_mask(
    path: str | os.PathLike[str],
    count: int,
    width: int | None = None,
    height: int | None = None,
    flag: str = "mask",
) -> list[Any]:
    """A mask as ``count`` grey (``L``) PIL frames: a still image repeated for every frame, or
    the first ``count`` frames of a video.  White marks what is generated, black what is kept."""
    if is_still_image(path):
        from PIL import Image, ImageOps

        with Image.open(str(path)) as image:
            still = _fit(ImageOps.exif_transpose(image).convert("L"), width, height)
        return [still] * count
    return read_frames(path, count, width, height, mode="L", flag=flag)


def _fit(image: Any, width: int | None, height: int | None) -> Any:
    if width and height:
        return prepare_image(image, int(width), int(height))
    return image


__all__ = ["count_frames", "frame_size", "is_still_image", "read_frames", "read_mask"]
