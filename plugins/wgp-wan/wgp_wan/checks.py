"""Checks a Wan request needs beyond its parameter schema, run before any weight is loaded.

The schema already enforces types, ranges, the 4n+1 frame rule and which
images a model takes; what is left is what depends on files: whether the
images are readable, and whether they would be stretched.  Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec

from wgp_diffusers import aspect_warning, image_size


def check(spec: ModelSpec, params: Mapping[str, Any]) -> list[str]:
    """Raise :class:`UserError` for an image that cannot be read; return warnings.

    Which images a model takes is the parameter schema's rule (``image_start``
    is required on image models, ``image_end`` exists only on first-last-frame
    ones), checked before this runs.  Left here: every image must be a file
    Pillow can read, and an image whose aspect ratio differs from
    ``width``/``height`` is stretched by the pipeline: a warning, not an error.
    """
    warnings: list[str] = []
    for flag, path in (("--image-start", params.get("image_start")), ("--image-end", params.get("image_end"))):
        if path:
            warning = aspect_warning(flag, image_size(path, flag), params)
            if warning:
                warnings.append(warning)
    return warnings
