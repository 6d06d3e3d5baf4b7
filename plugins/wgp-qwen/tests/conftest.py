"""Qwen-Image test setup: an offline hub before anything imports huggingface_hub; fixtures come from wgp_host.testing."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pytest  # noqa: E402

#: The area the Edit pipelines VAE-encode each reference image at, in these tests (1024x1024's in diffusers).
TEST_VAE_AREA = 64 * 64


@pytest.fixture
def small_vae_area(monkeypatch) -> int:
    """The Edit pipelines VAE-encode every image at 1024x1024's area whatever the output size: on
    a CPU that is seconds per image even for the tiny VAE (and 4096 image tokens for the
    transformer).  Neither pipeline takes that area as an argument; the test sets it to 64x64's
    where each pipeline module keeps it, for wgp's run and the direct call alike:
    QwenImageEditPlusPipeline's ``VAE_IMAGE_SIZE`` constant, and QwenImageEditPipeline's
    ``calculate_dimensions(1024 * 1024, ratio)`` call (its area argument replaced)."""
    from diffusers.pipelines.qwenimage import pipeline_qwenimage_edit, pipeline_qwenimage_edit_plus

    monkeypatch.setattr(pipeline_qwenimage_edit_plus, "VAE_IMAGE_SIZE", TEST_VAE_AREA)
    calculate = pipeline_qwenimage_edit.calculate_dimensions
    monkeypatch.setattr(pipeline_qwenimage_edit, "calculate_dimensions",
                        lambda area, ratio: calculate(TEST_VAE_AREA if area == 1024 * 1024 else area, ratio))
    return TEST_VAE_AREA
