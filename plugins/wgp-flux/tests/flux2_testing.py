"""Helpers shared by the FLUX.2 tests (a uniquely named module, so it never collides with other plugins' helpers)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from diffusers.utils import load_image
from wgp_diffusers.testing import as_arrays, generator
from PIL import Image
from wgp_flux.specs import get_spec

#: Every tiny FLUX.2 model generates at this size (multiples of 16, not square) with 2 steps; 64 prompt
#: tokens hold the chat template and the prompt, so the tiny encoders run fast.
SMALL = {"width": 48, "height": 32, "steps": 2, "seed": 7, "prompt": "a red fox in the snow", "max_sequence_length": 64}


def request_params(model_id: str, references: list[str] | None = None, **changes: Any) -> dict:
    """Full params for ``model_id`` at the small test size; ``references`` are reference image paths."""
    params = {**get_spec(model_id).defaults(), **SMALL}
    if references:
        params["reference_images"] = list(references)
    params.update(changes)
    return params


def direct_call(pipe: Any, params: dict, references: list[str] | None = None) -> list[np.ndarray]:
    """The diffusers call a user would write for ``params``, as uint8 arrays."""
    extra = {"image": [load_image(path) for path in references]} if references else {}
    images = pipe(
        prompt=params["prompt"], height=params["height"], width=params["width"], num_inference_steps=params["steps"],
        guidance_scale=params["guidance"], num_images_per_prompt=params.get("batch_size", 1),
        max_sequence_length=params["max_sequence_length"], generator=generator(params["seed"]), output_type="pil", **extra,
    ).images
    return as_arrays(images)


@pytest.fixture(scope="session")
def references(tmp_path_factory) -> dict[str, str]:
    """Reference images FLUX.2 accepts (at least 64 px a side): ``a`` 64x64, ``b`` 96x64, ``c`` 64x80."""
    root = tmp_path_factory.mktemp("flux2-references")
    out = {}
    for name, seed, (width, height) in (("a", 11, (64, 64)), ("b", 12, (96, 64)), ("c", 13, (64, 80))):
        path = root / f"{name}.png"
        Image.fromarray((np.random.RandomState(seed).rand(height, width, 3) * 255).astype("uint8")).save(path)
        out[name] = str(path)
    return out
