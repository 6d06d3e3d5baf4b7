"""The same LoRA adapter on the other diffusers families (Flux images, LTX video)."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file


def make_lora(transformer, path, seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for name, module in transformer.named_modules():
        if isinstance(module, torch.nn.Linear) and name.endswith(("to_q", "to_v")):
            sd[f"transformer.{name}.lora_A.weight"] = torch.randn(4, module.in_features, generator=g) * 0.5
            sd[f"transformer.{name}.lora_B.weight"] = torch.randn(module.out_features, 4, generator=g) * 0.5
    assert sd, "no attention projections found"
    save_file(sd, str(path))


@pytest.mark.parametrize("model_id, family, transformer_class, params", [
    ("flux.1-schnell", "flux", "FluxTransformer2DModel", {"width": 32, "height": 32, "steps": 2}),
    ("ltx-video", "ltx", "LTXVideoTransformer3DModel", {"width": 32, "height": 32, "frames": 9, "steps": 2}),
])
def test_lora_changes_and_restores_other_families(wgp_env, wgp_queue, wgp_tiny_model, tmp_path, model_id, family, transformer_class, params):
    import diffusers

    folder = wgp_tiny_model(model_id)
    lora_dir = wgp_env / "loras" / family
    lora_dir.mkdir(parents=True)
    make_lora(getattr(diffusers, transformer_class).from_pretrained(os.path.join(folder, "transformer")),
              lora_dir / "look.safetensors")

    def output(*lora):
        out = tmp_path / os.urandom(4).hex()
        outcome = wgp_queue.run(
            model=model_id, model_path=folder, output_dir=str(out), writer_options={"video_codec": "ffv1"},
            params={"prompt": "a fox", "seed": 4, **params}, adapter_options={"lora": lora})
        assert outcome.state == "finished", outcome.error
        path = outcome.artifacts[0].path
        if path.endswith(".png"):
            return np.asarray(Image.open(path))
        from wgp_host.testing import decode_video

        return decode_video(path)

    base = output()
    styled = output("look:1.0")
    assert not np.array_equal(base, styled)
    assert np.array_equal(output(), base)  # the cached pipeline is clean again
    assert np.array_equal(output("look:0"), base)
