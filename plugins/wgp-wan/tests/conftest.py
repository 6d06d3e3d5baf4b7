"""Shared fixtures: offline hub, tiny models built once per session, test images, a recording context."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Before anything imports huggingface_hub: no test may reach the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

try:  # the host is a dependency; in a bare checkout use the repository root
    import wgp_host.diffusion  # noqa: F401
except ImportError:  # pragma: no cover - depends on the install
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import numpy as np
import pytest
from PIL import Image
from wan_testing import Recorder
from wgp_wan.specs import get_spec


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """``tiny_dir(model_id)``: the folder of that model's tiny copy, built on first use."""
    from wgp_wan.plugin import build_tiny

    root = tmp_path_factory.mktemp("tiny")
    built: dict[str, str] = {}

    def get(model_id: str) -> str:
        if model_id not in built:
            folder = root / model_id
            build_tiny(get_spec(model_id), folder)
            built[model_id] = str(folder)
        return built[model_id]

    return get


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    """Three different 32x32 RGB images on disk, as paths: ``a``, ``b``, ``c``."""
    root = tmp_path_factory.mktemp("images")
    out = {}
    for name, seed in (("a", 1), ("b", 2), ("c", 3)):
        pixels = (np.random.RandomState(seed).rand(32, 32, 3) * 255).astype("uint8")
        path = root / f"{name}.png"
        Image.fromarray(pixels).save(path)
        out[name] = str(path)
    return out


@pytest.fixture
def recorder():
    return Recorder()
