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
    import wgp_diffusers  # noqa: F401
except ImportError:  # pragma: no cover - depends on the install
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import pytest
from wan_testing import Recorder


@pytest.fixture(scope="session")
def tiny_dir(wgp_tiny_model):
    """``tiny_dir(model_id)``: the folder of that model's tiny copy, built on first use."""
    return wgp_tiny_model


@pytest.fixture(scope="session")
def images(wgp_test_images):
    """Three different 32x32 RGB images on disk, as paths: ``a``, ``b``, ``c``."""
    return wgp_test_images


@pytest.fixture
def recorder():
    return Recorder()
