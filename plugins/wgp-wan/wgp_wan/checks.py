"""Checks a Wan request needs beyond its parameter schema, run before any weight is loaded.

The schema already enforces types, ranges and the 4n+1 frame rule; what is
left is what depends on several parameters together or on files: the images
an image model needs, and whether they are readable images.  Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wgp_hookspecs import ModelSpec, UserError

#: How far (relative) an image's aspect ratio may be from the output's before a warning.
ASPECT_TOLERANCE = 0.1


def check(spec: ModelSpec, params: Mapping[str, Any]) -> list[str]:
    """Raise :class:`UserError` for a request this model cannot run; return warnings.

    * image models need ``image_start`` (``--image-start``), first-last-frame
      models also ``image_end`` (``--image-end``);
    * a text-only model given an image refuses it rather than ignoring it;
    * every image must be a file Pillow can read;
    * an image whose aspect ratio differs from ``width``/``height`` is
      stretched by the pipeline: that is a warning, not an error.
    """
    options = spec.options
    kind = options.get("pipeline")
    warnings: list[str] = []
    start = params.get("image_start")
    end = params.get("image_end")
    if kind == "i2v" and not start:
        what = "first-last-frame-to-video" if options.get("last_image") else "image-to-video"
        raise UserError(f"{spec.id} is {what} and needs a first frame: pass --image-start IMAGE")
    if options.get("last_image") and not end:
        raise UserError(f"{spec.id} is first-last-frame-to-video and needs a last frame: pass --image-end IMAGE")
    if kind == "t2v" and start:
        raise UserError(f"{spec.id} is text-to-video and takes no --image-start; use an image-to-video model")
    if end and not options.get("last_image"):
        raise UserError(f"{spec.id} takes no --image-end; use wan2.1-flf2v-14b for first-last-frame video")
    for flag, path in (("--image-start", start), ("--image-end", end)):
        if path:
            size = image_size(path, flag)
            warning = _aspect_warning(flag, size, params)
            if warning:
                warnings.append(warning)
    return warnings


def image_size(path: Any, flag: str = "image") -> tuple[int, int]:
    """(width, height) of the image at ``path``; UserError when it is missing or not an image."""
    from PIL import Image, UnidentifiedImageError

    file = Path(str(path)).expanduser()
    if not file.is_file():
        raise UserError(f"{flag}: {path} does not exist or is not a file")
    try:
        with Image.open(file) as image:
            image.verify()
        with Image.open(file) as image:
            return image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UserError(f"{flag}: {path} is not a readable image ({exc})") from None


def _aspect_warning(flag: str, size: tuple[int, int], params: Mapping[str, Any]) -> str | None:
    width, height = params.get("width"), params.get("height")
    if not width or not height or not size[0] or not size[1]:
        return None
    image_ratio = size[0] / size[1]
    output_ratio = float(width) / float(height)
    if abs(image_ratio - output_ratio) / output_ratio <= ASPECT_TOLERANCE:
        return None
    return (
        f"{flag} is {size[0]}x{size[1]} but the video is {width}x{height}: the image will be stretched; "
        f"pass --width/--height with the image's aspect ratio to avoid it"
    )
