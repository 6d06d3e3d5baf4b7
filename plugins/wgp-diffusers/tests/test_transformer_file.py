"""``--transformer-file``: a single-file transformer (a GGUF Q8_0 written here with the ``gguf``
package, or one .safetensors) replaces the model's own, through diffusers' ``from_single_file``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_levers import PARAMS, SPEC, ThirdModel, ThirdPlugin
from wgp_hookspecs import GenerationRequest, LoadPlan, UserError


from wgp_host.testing import Recorder, decode_video

WEIGHTS_OF = "wan2.1-t2v-1.3b"


@pytest.fixture(scope="module")
def folder(wgp_tiny_model):
    return wgp_tiny_model(WEIGHTS_OF)


@pytest.fixture(scope="module")
def state(folder):
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel.from_pretrained(folder, subfolder="transformer").state_dict()


@pytest.fixture(scope="module")
def gguf_file(state, tmp_path_factory):
    """The tiny transformer as a GGUF: Q8_0 where a row is whole 32-value blocks, F32 elsewhere."""
    from wgp_diffusers.tiny import save_gguf

    return save_gguf(state, tmp_path_factory.mktemp("gguf") / "transformer-Q8_0.gguf")


def frames_of(model) -> np.ndarray:
    return model.generate(GenerationRequest(SPEC.id, PARAMS), Recorder().context).video


def test_a_gguf_q8_0_transformer_loads_quantized_and_generates_as_diffusers_does(folder, gguf_file):
    import diffusers

    model = ThirdModel.load(SPEC, LoadPlan(weights=folder, device="cpu", options={"transformer_file": str(gguf_file)}))
    quantized = [name for name, m in model.pipe.transformer.named_modules() if type(m).__name__ == "GGUFLinear"]
    assert "blocks.0.ffn.net.2" in quantized
    assert model.load_report["transformer_file"]["tensor_types"]["Q8_0"] == len(quantized) + 1  # one kept fp32 by diffusers
    frames = frames_of(model)
    transformer = diffusers.WanTransformer3DModel.from_single_file(
        str(gguf_file), config=folder, subfolder="transformer", torch_dtype=torch.float32,
        quantization_config=diffusers.GGUFQuantizationConfig(compute_dtype=torch.float32))
    pipe = diffusers.WanPipeline.from_pretrained(folder, transformer=transformer, dtype=torch.float32)
    direct = pipe(**ThirdModel.pipeline_kwargs(PARAMS), generator=torch.Generator("cpu").manual_seed(PARAMS["seed"]))
    from wgp_diffusers import to_uint8_video

    assert np.array_equal(frames, to_uint8_video(direct.frames))
    plain = frames_of(ThirdModel.load(SPEC, LoadPlan(weights=folder, device="cpu")))
    assert not np.array_equal(frames, plain)  # really the quantized weights
    assert np.abs(frames.astype(int) - plain.astype(int)).mean() < 8  # and Q8_0 stays close


def test_a_safetensors_transformer_file_gives_the_same_frames(folder, state, tmp_path):
    from safetensors.torch import save_file

    single = tmp_path / "transformer.safetensors"
    save_file(state, str(single))
    ours = frames_of(ThirdModel.load(SPEC, LoadPlan(weights=folder, device="cpu", options={"transformer_file": str(single)})))
    plain = frames_of(ThirdModel.load(SPEC, LoadPlan(weights=folder, device="cpu")))
    assert np.array_equal(ours, plain)


def test_two_expert_models_are_refused_before_loading(wgp_tiny_model, gguf_file):
    from wgp_wan.plugin import WAN_FAMILY
    from wgp_wan.specs import get_spec

    spec = get_spec("wan2.2-t2v-a14b")
    with pytest.raises(UserError, match="two experts"):
        WAN_FAMILY.load(spec, LoadPlan(weights=wgp_tiny_model(spec.id), device="cpu", options={"transformer_file": str(gguf_file)}))


def test_the_file_is_recorded_and_replayed(make_wgp_host, wgp_cli, folder, gguf_file, tmp_path):
    import wgp_diffusers.options as diffusers_plugin

    make_wgp_host(diffusers_plugin, ThirdPlugin())
    result = wgp_cli("run", "-m", SPEC.id, "--model-path", folder, "-p", PARAMS["prompt"], "--seed", "5",
                     "--transformer-file", str(gguf_file), "--video-codec", "ffv1", "--writer", "video",
                     "--output-dir", str(tmp_path / "first"), "--json")
    assert result.exit_code == 0, result.output
    video = json.loads(result.stdout)["artifacts"][0]["path"]
    record = json.loads(wgp_cli("inspect", video).stdout)
    assert record["plan"]["transformer_file"] == str(gguf_file.resolve())
    assert record["loaded"]["transformer_file"]["format"] == "gguf"
    replay = wgp_cli("run", "--from", video, "--model-path", folder, "--video-codec", "ffv1", "--writer", "video",
                     "--output-dir", str(tmp_path / "again"), "--json")
    assert replay.exit_code == 0, replay.output
    assert np.array_equal(decode_video(json.loads(replay.stdout)["artifacts"][0]["path"]), decode_video(video))


@pytest.mark.parametrize(("make", "args", "message"), [
    (lambda d, g: d / "missing.gguf", [], "file not found"),
    (lambda d, g: (d / "t.ckpt").write_bytes(b"x") and d / "t.ckpt", [], "pickled checkpoints"),
    (lambda d, g: (d / "junk.gguf").write_bytes(b"not a gguf file") and d / "junk.gguf", [], "not a readable GGUF"),
    (lambda d, g: (d / "junk.safetensors").write_bytes(b"\x00" * 16) and d / "junk.safetensors", [], "not a readable safetensors"),
    (lambda d, g: g, ["--quantize", "int8"], "already"),
])
def test_bad_transformer_files_are_refused_at_the_door(make_wgp_host, wgp_cli, folder, gguf_file, tmp_path, make, args, message):
    import wgp_diffusers.options as diffusers_plugin

    make_wgp_host(diffusers_plugin, ThirdPlugin())
    path = make(tmp_path, gguf_file)
    out = tmp_path / "out"
    for command in (("run",), ("queue", "add")):
        result = wgp_cli(*command, "-m", SPEC.id, "--model-path", folder, "-p", "x", "--transformer-file", str(path),
                         *args, "--output-dir", str(out))
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
    assert not out.exists()
    assert json.loads(wgp_cli("queue", "list", "--json").stdout) == []


def test_a_transformer_that_does_not_fit_the_model_is_one_clear_error(folder, state, tmp_path):
    from safetensors.torch import save_file

    wrong = tmp_path / "wrong.safetensors"
    save_file({k: (v[..., :1].contiguous() if v.ndim else v) for k, v in state.items()}, str(wrong))
    with pytest.raises(UserError, match="does not fit WanTransformer3DModel"):
        ThirdModel.load(SPEC, LoadPlan(weights=folder, device="cpu", options={"transformer_file": str(wrong)}))
