"""Output sizes that follow the conditioning image, and images cropped (never stretched) to them.

A family declares its rule as data, ``ModelSpec.options["size_rule"]`` (a :class:`SizeRule`);
:func:`fit_size` applies it once, at the door, so a queued request already holds its final
width and height; :func:`prepare_image` gives the pipeline the image cropped to that size's
aspect ratio, then resized, when the model loads it.  Both use :func:`crop_box`, so what the
door reports is what the worker crops.

The rules and where each comes from:

* ``"area"``: the image's aspect ratio at the target area (the model's default width x
  height), each side floored to ``multiple``: the diffusers Wan image-to-video and
  first-last-frame examples (``max_area = height * width``, ``mod_value =
  vae_scale_factor_spatial * patch_size``; docs/source/en/api/pipelines/wan.md).
* ``"best"``: Wan 2.2 TI2V 5B (``best_output_size`` in Wan2.2 ``wan/utils/utils.py``, used by
  ``wan/textimage2video.py``): floor one side to the multiple (32: 16x VAE, 2x2 patches), fit
  the other in the area, keep whichever of the two is nearer the image's ratio; the image is
  then resized to cover it and centre-cropped.
* ``"kontext"``: FLUX Kontext, diffusers ``FluxKontextPipeline``: the preferred Kontext
  resolution nearest the reference's aspect ratio (diffusers' ``PREFERRED_KONTEXT_RESOLUTIONS``),
  or, with ``auto_resize`` off, the reference's own size; the pipeline encodes the reference at
  that resolution itself, so the reference is never cropped (``crop=False``).
* Cropping: the last frame of first-last-frame models is resized and centre-cropped to the first
  frame's size (the diffusers Wan FLF2V example); LTX-Video crops the image to the output's
  aspect ratio, then resizes (``load_image_to_tensor_with_resize_and_crop`` in LTX-Video's
  ``inference.py``).  wgp does the same for every image of a rule with ``crop=True``, also when the
  user sets the size: cropping keeps proportions where stretching would distort them.

Torch-free: Pillow only, imported when an image is read (the Kontext table comes from
diffusers, imported only when a Kontext request is sized).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wgp_hookspecs import ModelSpec

#: The flag each image parameter is given with, for messages.
_FLAGS = {"image_start": "--image-start", "image_end": "--image-end"}
_FITS = ("area", "best", "kontext")


@dataclass(frozen=True)
class SizeRule:
    """How a model sizes its output from a conditioning image (``ModelSpec.options["size_rule"]``).

    ``fit`` is ``"area"``, ``"best"`` or ``"kontext"`` (see the module's docstring for the
    sources); ``multiple`` is what width and height are rounded to; ``image`` the parameter whose
    image sizes the output; ``crop`` whether the pipeline's images are centre-cropped to the
    output's aspect ratio (False where the pipeline takes the image at its own size).
    """

    multiple: int = 16
    fit: str = "area"
    image: str = "image_start"
    crop: bool = True

    def __post_init__(self) -> None:
        if self.fit not in _FITS or self.multiple < 1:
            raise ValueError(f"size rule: fit must be one of {', '.join(_FITS)} and multiple >= 1")

    def size(self, image: tuple[int, int], area: int, params: Mapping[str, Any]) -> tuple[int, int]:
        """The (width, height) of the output for an image of size ``image`` and a target ``area``."""
        if self.fit == "area":
            return area_size(image, area, self.multiple)
        if self.fit == "best":
            return best_size(image, area, self.multiple)
        return kontext_size(image, self.multiple, bool(params.get("auto_resize", True)))


def area_size(image: tuple[int, int], area: int, multiple: int) -> tuple[int, int]:
    """The image's aspect ratio at ``area`` pixels, each side rounded, then floored to ``multiple``
    (the diffusers Wan I2V / FLF2V examples)."""
    ratio = image[1] / image[0]
    height = round(math.sqrt(area * ratio)) // multiple * multiple
    width = round(math.sqrt(area / ratio)) // multiple * multiple
    return max(width, multiple), max(height, multiple)


def best_size(image: tuple[int, int], area: int, multiple: int) -> tuple[int, int]:
    """Wan 2.2's choice for TI2V 5B: of "width floored first" and "height floored first", both
    within ``area``, the one whose ratio is nearer the image's."""
    ratio = image[0] / image[1]
    width = math.sqrt(area * ratio)
    height = area / width
    w1 = max(multiple, int(width // multiple * multiple))
    h1 = max(multiple, int(area / w1 // multiple * multiple))
    h2 = max(multiple, int(height // multiple * multiple))
    w2 = max(multiple, int(area / h2 // multiple * multiple))

    def error(w: int, h: int) -> float:
        return max(ratio / (w / h), (w / h) / ratio)

    return (w1, h1) if error(w1, h1) < error(w2, h2) else (w2, h2)


def kontext_size(image: tuple[int, int], multiple: int, auto_resize: bool = True) -> tuple[int, int]:
    """FluxKontextPipeline's resolution for a reference image: the preferred Kontext resolution
    nearest its aspect ratio (or its own size without ``auto_resize``), floored to ``multiple``."""
    width, height = image
    if auto_resize:
        # The table is diffusers' own (imported, not copied); importing it imports torch,
        # which only a Kontext request at the door pays for.
        from diffusers.pipelines.flux.pipeline_flux_kontext import PREFERRED_KONTEXT_RESOLUTIONS

        ratio = width / height
        _, width, height = min((abs(ratio - w / h), w, h) for w, h in PREFERRED_KONTEXT_RESOLUTIONS)
    return max(multiple, width // multiple * multiple), max(multiple, height // multiple * multiple)


def crop_box(image: tuple[int, int], output: tuple[int, int]) -> tuple[int, int, int, int]:
    """The centred (left, top, right, bottom) box of an ``image``-sized picture with ``output``'s
    aspect ratio: the largest one, so only the excess side loses pixels."""
    width, height = image
    out_w, out_h = output
    if width * out_h > height * out_w:  # wider than the output: trim left and right
        keep = max(1, min(width, round(height * out_w / out_h)))
        left = (width - keep) // 2
        return left, 0, left + keep, height
    keep = max(1, min(height, round(width * out_h / out_w)))
    top = (height - keep) // 2
    return 0, top, width, top + keep


def crop_note(flag: str, image: tuple[int, int], output: tuple[int, int]) -> str | None:
    """``--image-start 600x900 cropped to 600x338 (centre) for 832x468``, or None when nothing is cropped."""
    left, top, right, bottom = crop_box(image, output)
    if (right - left, bottom - top) == tuple(image):
        return None
    return (f"{flag} {image[0]}x{image[1]} cropped to {right - left}x{bottom - top} (centre) "
            f"for {output[0]}x{output[1]}")


def prepare_image(image: Any, width: int, height: int) -> Any:
    """A PIL ``image`` centre-cropped to width:height (:func:`crop_box`), then resized to width x height.

    The one place a conditioning image is fitted to the output; a direct diffusers call given the
    result gets the same frames as wgp (the pipeline's own resize is then a no-op).
    """
    box = crop_box(image.size, (width, height))
    if box != (0, 0, *image.size):
        image = image.crop(box)
    return image if image.size == (width, height) else image.resize((width, height))


def fit_size(spec: ModelSpec, params: Mapping[str, Any], given: frozenset[str] = frozenset()) -> tuple[dict[str, Any], list[str]]:
    """Size a request from its conditioning image, at the door: the changed parameters and the
    warnings (what will be cropped).

    Neither ``width`` nor ``height`` in ``given`` (the user set no size): the rule's size for the
    image at the target area, the request's width x height before sizing (the model's default or
    config default).  One of them given: the other follows the image's aspect ratio.  Both given:
    kept, and the images are cropped to them.  A model without a ``size_rule``, or a request
    without the rule's image, is left as it is.
    """
    from .family import image_size

    rule = spec.options.get("size_rule")
    if not isinstance(rule, SizeRule) or not params.get(rule.image):
        return {}, []
    source = image_size(params[rule.image], _FLAGS.get(rule.image, rule.image))
    width, height = int(params["width"]), int(params["height"])
    changes: dict[str, Any] = {}
    if "width" not in given and "height" not in given:
        width, height = rule.size(source, width * height, params)
    elif "height" not in given:
        height = max(rule.multiple, round(width * source[1] / source[0] / rule.multiple) * rule.multiple)
    elif "width" not in given:
        width = max(rule.multiple, round(height * source[0] / source[1] / rule.multiple) * rule.multiple)
    if width != params["width"]:
        changes["width"] = width
    if height != params["height"]:
        changes["height"] = height
    warnings: list[str] = []
    if rule.crop:
        for name, value in params.items():
            param = spec.param(name)
            if value and param is not None and param.type == "image":
                flag = _FLAGS.get(name, name)
                note = crop_note(flag, source if name == rule.image else image_size(value, flag), (width, height))
                if note:
                    warnings.append(note)
    return changes, warnings


def crops(params: Mapping[str, Any], names: Mapping[str, str] | Any) -> dict[str, dict[str, Any]]:
    """What :func:`prepare_image` crops from each image of ``params`` named in ``names``, for the
    generation record: ``{"image_start": {"size": [600, 900], "box": [0, 281, 600, 619]}}``."""
    from .family import image_size

    output = (int(params["width"]), int(params["height"]))
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        if params.get(name):
            size = image_size(params[name], _FLAGS.get(name, name))
            box = crop_box(size, output)
            if box != (0, 0, *size):
                out[name] = {"size": list(size), "box": list(box), "output": list(output)}
    return out
