"""Shared by the MiniMax-H3 tests: request parameters at tiny sizes and the direct diffusers call."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from wgp_diffusers import to_uint8_video
from wgp_minimax.pipeline import MiniMaxH3Model, processor_without_torchvision, reference_images
from wgp_minimax.specs import MINIMAX_SPECS

T2VA, REF = "minimax-h3", "minimax-h3-ref"
#: The smallest request MiniMax-H3 takes: 32x32 (one canvas multiple), 124 frames (5.2 s), 3 steps (2 passes).
SMALL = {"prompt": "a dog barks at a red ball", "seed": 7, "width": 32, "height": 32, "frames": 124, "steps": 3}


def request_params(model_id: str, **changes: Any) -> dict[str, Any]:
    """The model's defaults with :data:`SMALL` and ``changes`` on top."""
    return {**MINIMAX_SPECS[model_id].defaults(), **SMALL, **changes}


@pytest.fixture(scope="session")
def folder(wgp_tiny_model) -> str:
    """The tiny MiniMax-H3 (both transformer partitions: one folder serves both ids)."""
    return wgp_tiny_model(T2VA)


@pytest.fixture(scope="session")
def direct_pipe(folder):
    """Plain diffusers: ``MiniMaxH3ModularPipeline.from_pretrained`` with every workflow's components
    (without torchvision, the processor is the one wgp builds, as transformers cannot load it)."""
    from diffusers import MiniMaxH3ModularPipeline

    pipe = MiniMaxH3ModularPipeline.from_pretrained(folder)
    processor = processor_without_torchvision(pipe)
    if processor is not None:
        pipe.update_components(processor=processor)
    pipe.load_components(names=[n for n in pipe.pretrained_component_names if getattr(pipe, n) is None], dtype=torch.float32)
    return pipe


def direct_call(pipe, params: dict[str, Any], images: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Frames (uint8), audio (float32 [samples, channels]) and sample rate of a direct call."""
    from diffusers.utils import load_image

    inputs: dict[str, Any] = {}
    for name, argument in (images or {}).items():
        inputs[argument] = reference_images(params[name]) if argument == "references" else load_image(params[name])
    out = pipe(**MiniMaxH3Model.pipeline_kwargs(params, inputs), generator=torch.Generator("cpu").manual_seed(params["seed"]),
               output=["videos", "audio", "sampling_rate"])
    return to_uint8_video(out["videos"]), out["audio"][0].float().numpy().T, int(out["sampling_rate"])
