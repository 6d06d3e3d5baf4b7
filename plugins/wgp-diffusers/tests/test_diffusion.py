"""wgp_diffusers.diffusion, the family-agnostic diffusers helpers that every diffusers family relies on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from wgp_hookspecs import JobCancelled, LoadPlan, UserError

from wgp_diffusers import diffusion
from wgp_host.testing import Recorder, heavy_imports

CPU_ONLY = not torch.cuda.is_available() and not torch.backends.mps.is_available()


def test_package_import_is_torch_free():
    # Families import wgp_diffusers at registration, which `wgp --help` pays for.
    assert heavy_imports("wgp_diffusers") == []
    assert heavy_imports("wgp_diffusers.options") == []


@pytest.mark.skipif(not CPU_ONLY, reason="needs a CPU-only machine")
def test_auto_plan_on_cpu():
    assert diffusion.resolve_device("auto") == "cpu"
    assert diffusion.resolve_dtype("auto", "cpu") == torch.float32
    assert diffusion.validate_plan(LoadPlan()) == []


def test_dtype_names():
    assert diffusion.resolve_dtype("bf16", "cpu") == torch.bfloat16
    assert diffusion.resolve_dtype("float16", "cuda") == torch.float16
    with pytest.raises(UserError, match="dtype"):
        diffusion.resolve_dtype("half-ish", "cpu")
    assert diffusion.component_dtypes(torch.float32, ["vae"]) == torch.float32
    assert diffusion.component_dtypes(torch.bfloat16, ["vae"]) == {"default": torch.bfloat16, "vae": torch.float32}


def test_plan_validation():
    with pytest.raises(UserError, match="device"):
        diffusion.validate_plan(LoadPlan(device="tpu"))
    with pytest.raises(UserError, match="only cuda takes an index"):
        diffusion.validate_plan(LoadPlan(device="cpu:1"))
    with pytest.raises(UserError, match="offload"):
        diffusion.validate_plan(LoadPlan(device="cpu", options={"offload": "disk"}))
    assert any("bfloat16 on a CPU" in w for w in diffusion.validate_plan(LoadPlan(device="cpu", options={"dtype": "bf16"})))
    assert any("saves no memory" in w for w in diffusion.validate_plan(LoadPlan(device="cpu", options={"offload": "group"})))
    if CPU_ONLY:
        with pytest.raises(UserError, match="CUDA is not available"):
            diffusion.validate_plan(LoadPlan(device="cuda"))
        with pytest.raises(UserError, match="MPS is not available"):
            diffusion.validate_plan(LoadPlan(device="mps"))
        with pytest.raises(UserError, match="sequential"):
            diffusion.validate_plan(LoadPlan(options={"offload": "sequential"}))


def test_resolve_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="does not exist"):
        diffusion.resolve_weights(str(tmp_path / "nowhere"))
    (tmp_path / "file.safetensors").write_bytes(b"")
    with pytest.raises(UserError, match="is a file"):
        diffusion.resolve_weights(str(tmp_path / "file.safetensors"))
    with pytest.raises(UserError, match="no model_index.json"):
        diffusion.resolve_weights(str(tmp_path))
    (tmp_path / "model_index.json").write_text("{}")
    assert diffusion.resolve_weights(str(tmp_path)) == str(tmp_path.resolve())
    with pytest.raises(UserError, match="not in the local Hugging Face cache.*huggingface-cli download someone/some-model"):
        diffusion.resolve_weights("someone/some-model")
    with pytest.raises(UserError, match="no weights location"):
        diffusion.resolve_weights(None)


def test_resolve_weights_online_defers_to_from_pretrained(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert diffusion.resolve_weights("someone/some-model") == "someone/some-model"


def test_vae_tiling_rule():
    assert diffusion.wants_vae_tiling(None, 1280, 720) is False
    assert diffusion.wants_vae_tiling(None, 1920, 1080) is True
    assert diffusion.wants_vae_tiling(True, 32, 32) is True
    assert diffusion.wants_vae_tiling(False, 1920, 1080) is False


def test_to_uint8_video_rounds_like_diffusers_pil():
    from diffusers.image_processor import VaeImageProcessor

    frames = np.random.RandomState(0).rand(1, 3, 4, 5, 3).astype(np.float32)
    frames[0, 0, 0, 0] = [0.0, 1.0, 0.5 / 255]
    ours = diffusion.to_uint8_video(frames)
    assert ours.shape == (3, 4, 5, 3) and ours.dtype == np.uint8
    pil = VaeImageProcessor.numpy_to_pil(frames[0])
    assert np.array_equal(ours, np.stack([np.array(p) for p in pil]))
    assert np.array_equal(diffusion.to_uint8_video(frames[0]), ours)
    with pytest.raises(ValueError, match="shape"):
        diffusion.to_uint8_video(frames[0, 0])


def test_step_callback_reports_and_cancels():
    recorder = Recorder()
    callback = diffusion.step_callback(recorder.context, 4)
    kwargs = {"latents": 1}
    assert callback(object(), 0, 999, kwargs) is kwargs
    assert recorder.steps() == [(1, 4)]
    recorder.cancel.cancel()
    with pytest.raises(JobCancelled):
        callback(object(), 1, 500, kwargs)


def test_seeded_generator_is_reproducible():
    a = torch.randn(4, generator=diffusion.seeded_generator(5, "cpu"))
    b = torch.randn(4, generator=diffusion.seeded_generator(5, "cpu"))
    assert torch.equal(a, b)
    assert not torch.equal(a, torch.randn(4, generator=diffusion.seeded_generator(6, "cpu")))
