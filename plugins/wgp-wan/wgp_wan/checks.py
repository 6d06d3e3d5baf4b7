"""Checks a Wan request needs beyond its parameter schema, run before any weight is loaded.

The schema already enforces types, ranges and the 4n+1 frame rule; what is
left is what depends on several parameters together or on files: the images
an image model needs, and whether they are readable images.  Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec, UserError

from wgp_host.diffusers_family import aspect_warning, image_size


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
            warning = aspect_warning(flag, size, params)
            if warning:
                warnings.append(warning)
    return warnings
