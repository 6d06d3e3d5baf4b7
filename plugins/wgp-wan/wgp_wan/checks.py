"""Checks a Wan request needs beyond its parameter schema, run before any weight is loaded.

The schema already enforces types, ranges, the 4n+1 frame rule and which
images a model takes; what is left is what depends on files: whether the
images are readable.  The size that follows the start image, and the crops, are the model's
``size_rule`` (``wgp_diffusers.sizing``).  Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wgp_hookspecs import ModelSpec

from wgp_diffusers import image_size


def check(spec: ModelSpec, params: Mapping[str, Any]) -> list[str]:
    """Raise :class:`UserError` for an image that cannot be read.

    Which images a model takes is the parameter schema's rule (``image_start``
    is required on image models, ``image_end`` exists only on first-last-frame
    ones), checked before this runs.  Left here: every image must be a file
    Pillow can read.  Nothing is stretched: the images are cropped to the output
    (``fit_size`` reports it).
    """
    for flag, path in (("--image-start", params.get("image_start")), ("--image-end", params.get("image_end"))):
        if path:
            image_size(path, flag)
    return []
