"""Speed and memory levers on a diffusers family defined here (not one of ours), through the real hooks.

The family is a third-party-style ``DiffusersModel`` over diffusers' ``WanPipeline``, run on the
tiny Wan weights; each lever's frames are compared with plain diffusers given the same diffusers
config directly, and a forward-call counter shows that a cache really skips transformer work.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from wgp_hookspecs import SEED_PARAM, GenerationRequest, LoadPlan, ModelFamily, ModelSpec, Param, hookimpl

from wgp_diffusers import OPTION_GROUP, DiffusersModel, levers, standard_kwargs, to_uint8_video
from wgp_host.testing import Recorder, decode_video

WEIGHTS_OF = "wan2.1-t2v-1.3b"  # the tiny weights this family runs on
PARAMS = {"prompt": "a red fox runs through snow", "negative_prompt": "", "seed": 5, "width": 32, "height": 32,
          "frames": 5, "steps": 8, "guidance": 5.0, "fps": 16}


class ThirdModel(DiffusersModel):
    """All a family writes: its pipeline class and call arguments."""

    @staticmethod
    def pipeline_class(spec, with_image=False):
        import diffusers

        return diffusers.WanPipeline

    @staticmethod
    def pipeline_kwargs(params, images=None):
        return {**standard_kwargs(params), "num_frames": int(params["frames"])}


SPEC = ModelSpec(
    "third-video", frozenset({"text-to-video"}),
    (Param("prompt", "str", required=True), Param("negative_prompt", "str", ""), SEED_PARAM,
     *(Param(k, type(v).__name__, v) for k, v in PARAMS.items() if k not in ("prompt", "negative_prompt", "seed"))),
)
FAMILY = ModelFamily("third", (SPEC,), load=ThirdModel.load, option_groups=(OPTION_GROUP,), check_plan=levers.check_plan)


class ThirdPlugin:
    @hookimpl
    def register_model_families(self, register):
        register(FAMILY)


class BlockCalls:
    """Counts the transformer's last block doing its work (a real forward hook)."""

    def __init__(self, transformer, part: str = "ffn"):
        self.calls = 0
        # The feed-forward inside the block: cache hooks wrap the block's forward, so the block itself
        # is still called when its work is skipped; its inner layers are not.
        module = transformer.blocks[-1]
        for name in part.split("."):
            module = getattr(module, name)
        module.register_forward_pre_hook(lambda module, args: self._count())

    def _count(self):
        self.calls += 1


def ours(folder: str, part: str = "ffn", **options) -> tuple[np.ndarray, int]:
    model = ThirdModel.load(SPEC, LoadPlan(weights=folder, device="cpu", options=options))
    counter = BlockCalls(model.pipe.transformer, part)
    frames = model.generate(GenerationRequest(SPEC.id, PARAMS), Recorder().context).video
    return frames, counter.calls


def direct(folder: str, config=None, part: str = "ffn") -> tuple[np.ndarray, int]:
    """Plain diffusers: from_pretrained, the same cache config applied by hand, a seeded generator."""
    import diffusers

    pipe = diffusers.WanPipeline.from_pretrained(folder, dtype=torch.float32)
    if config is not None:
        if hasattr(config, "current_timestep_callback"):
            config.current_timestep_callback = lambda: pipe.current_timestep
        pipe.transformer.enable_cache(config)
    counter = BlockCalls(pipe.transformer, part)
    out = pipe(**ThirdModel.pipeline_kwargs(PARAMS), generator=torch.Generator("cpu").manual_seed(PARAMS["seed"]))
    return to_uint8_video(out.frames), counter.calls


@pytest.fixture(scope="module")
def folder(wgp_tiny_model):
    return wgp_tiny_model(WEIGHTS_OF)


@pytest.fixture(scope="module")
def plain(folder):
    return direct(folder)


#: (cache, its options, the block part whose work it skips; None: it does not skip on these weights).
#: TaylorSeer's default identifiers do not match the Wan transformer's layers, so it never engages
#: here (diffusers applies it, and the frames equal diffusers' with the same config).
CACHE_CASES = [
    ("fbcache", ["threshold=0.5"], "ffn"),
    ("taylorseer", ["cache_interval=2", "disable_cache_before_step=1"], None),
    ("pab", [], "attn1.to_q"),  # PAB wraps attn1 itself: count a layer inside it
    ("seacache", ["threshold=0.5"], "ffn"),
    ("textkv", [], None),
]


@pytest.mark.parametrize(("cache", "items", "part"), CACHE_CASES, ids=[c for c, _, _ in CACHE_CASES])
def test_each_cache_equals_diffusers_with_the_same_config(cache, items, part, folder):
    plan = LoadPlan(weights=folder, device="cpu", options={"cache": cache, "cache_options": items})
    config = levers.cache_config(cache, levers.cache_options(plan), {"current_timestep_callback": lambda: None})
    reference, reference_calls = direct(folder, config, part or "ffn")
    frames, calls = ours(folder, part or "ffn", cache=cache, cache_options=items)
    assert np.array_equal(frames, reference)
    assert calls == reference_calls
    if part is not None:
        assert calls < direct(folder, None, part)[1], f"{cache} did not skip any transformer work"


def test_a_cache_is_reset_between_jobs_of_a_cached_model(folder):
    model = ThirdModel.load(SPEC, LoadPlan(weights=folder, device="cpu", options={"cache": "fbcache", "cache_options": ["threshold=0.5"]}))
    first = model.generate(GenerationRequest(SPEC.id, PARAMS), Recorder().context).video
    second = model.generate(GenerationRequest(SPEC.id, PARAMS), Recorder().context).video
    assert np.array_equal(first, second)


def test_fp8_storage_cuts_transformer_bytes(folder):
    def linear_bytes(model):
        # The repeated blocks' linear layers: what a 1.3B+ transformer is made of. diffusers keeps
        # norms, embeddings and the patch/out projections in the compute dtype on purpose, and on
        # tiny weights those dominate, so the whole-model ratio is measured by benchmarks/levers.py.
        layers = [m for m in model.pipe.transformer.blocks.modules() if isinstance(m, torch.nn.Linear)]
        return sum(p.numel() * p.element_size() for m in layers for p in m.parameters())

    full = ThirdModel.load(SPEC, LoadPlan(weights=folder, device="cpu"))
    small = ThirdModel.load(SPEC, LoadPlan(weights=folder, device="cpu", options={"storage_dtype": "fp8"}))
    assert linear_bytes(full) / linear_bytes(small) >= 3.5
    frames = small.generate(GenerationRequest(SPEC.id, PARAMS), Recorder().context).video
    assert frames.shape == (5, 32, 32, 3) and frames.std() > 0


def test_native_attention_backend_is_set_and_changes_nothing(folder, plain):
    frames, _ = ours(folder, attention="native")
    assert np.array_equal(frames, plain[0])


def test_levers_through_the_cli_are_recorded_and_replayed(make_wgp_host, wgp_cli, folder, tmp_path):
    import wgp_diffusers.options as diffusers_plugin

    make_wgp_host(diffusers_plugin, ThirdPlugin())
    first = tmp_path / "first"
    result = wgp_cli("run", "-m", SPEC.id, "--model-path", folder, "-p", PARAMS["prompt"], "--seed", "5",
                     "--cache", "fbcache", "--cache-option", "threshold=0.5", "--quantize", "int8", "--video-codec", "ffv1",
                     "--writer", "video", "--output-dir", str(first))
    assert result.exit_code == 0, result.output
    (video,) = first.glob("*.mkv")
    record = json.loads(wgp_cli("inspect", str(video)).stdout)
    assert record["plan"]["cache"] == "fbcache" and record["plan"]["cache_options"] == ["threshold=0.5"]
    loaded = record["loaded"]
    assert loaded["cache"] == "fbcache" and loaded["cache_options"] == {"threshold": 0.5}
    assert loaded["bit_reproducible"] is False and loaded["quantize"] == "int8"
    assert loaded["torch"] == torch.__version__ and loaded["diffusers"]
    again = tmp_path / "again"
    replay = wgp_cli("run", "--from", str(video), "--model-path", folder, "--video-codec", "ffv1", "--writer", "video",
                     "--output-dir", str(again))  # where and how to write is the deployment's, not the record's
    assert replay.exit_code == 0, replay.output
    (replayed,) = again.glob("*.mkv")
    replayed_plan = json.loads(wgp_cli("inspect", str(replayed)).stdout)["plan"]
    assert replayed_plan["cache"] == "fbcache" and replayed_plan["quantize"] == "int8"
    assert np.array_equal(decode_video(replayed), decode_video(video))


def test_plain_runs_are_recorded_as_bit_reproducible(make_wgp_host, wgp_cli, folder, tmp_path):
    import wgp_diffusers.options as diffusers_plugin

    make_wgp_host(diffusers_plugin, ThirdPlugin())
    result = wgp_cli("run", "-m", SPEC.id, "--model-path", folder, "-p", "x", "--steps", "1", "--writer", "video",
                     "--output-dir", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(wgp_cli("inspect", json.loads(result.stdout)["artifacts"][0]["path"]).stdout)
    assert record["loaded"]["bit_reproducible"] is True and record["loaded"]["cache"] == "none"


@pytest.mark.parametrize(("args", "message"), [
    (["--attention", "flash"], "--attention flash runs on CUDA only"),
    (["--cache", "fbcache", "--cache-option", "nope=1"], "--cache-option nope: not an option of fbcache"),
    (["--cache-option", "threshold=1"], "--cache-option needs a cache"),
    (["--cache", "magcache"], "has no MagCache calibration on this machine; run `wgp calibrate third-video"),
    (["--cache", "warp"], "'warp' is not one of"),
    (["--quantize", "nf4"], "--quantize nf4 needs CUDA"),
    (["--quantize-text-encoder", "fp8"], "--quantize-text-encoder fp8 needs CUDA"),
])
def test_unsupported_levers_are_one_line_exit_2_and_write_nothing(make_wgp_host, wgp_cli, folder, tmp_path, args, message):
    import wgp_diffusers.options as diffusers_plugin

    make_wgp_host(diffusers_plugin, ThirdPlugin())
    out = tmp_path / "out"
    result = wgp_cli("run", "-m", SPEC.id, "--model-path", folder, "-p", "x", *args, "--output-dir", str(out))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not out.exists() or list(out.iterdir()) == []


def test_a_bad_cache_option_is_refused_before_a_job_is_queued(make_wgp_host, wgp_cli, wgp_env, folder):
    import wgp_diffusers.options as diffusers_plugin

    make_wgp_host(diffusers_plugin, ThirdPlugin())
    result = wgp_cli("queue", "add", "-m", SPEC.id, "--model-path", folder, "-p", "x", "--cache", "seacache",
                     "--cache-option", "treshold=0.2")
    assert result.exit_code == 2 and "known: " in result.output and "threshold" in result.output
    listing = wgp_cli("queue", "list", "--json")
    assert json.loads(listing.stdout) == []


def test_regional_compile_runs_and_caches_under_the_wgp_cache_folder(make_wgp_host, wgp_cli, wgp_env, folder, tmp_path, monkeypatch):
    import wgp_diffusers.options as diffusers_plugin

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    make_wgp_host(diffusers_plugin, ThirdPlugin())
    common = ["-m", SPEC.id, "--model-path", folder, "-p", PARAMS["prompt"], "--seed", "5", "--steps", "2",
              "--video-codec", "ffv1", "--writer", "video"]
    plain_run = wgp_cli("run", *common, "--output-dir", str(tmp_path / "plain"))
    compiled_run = wgp_cli("run", *common, "--compile", "regional", "--output-dir", str(tmp_path / "compiled"))
    assert plain_run.exit_code == 0 and compiled_run.exit_code == 0, compiled_run.output
    plain_frames = decode_video(next((tmp_path / "plain").glob("*.mkv"))).astype(int)
    compiled_frames = decode_video(next((tmp_path / "compiled").glob("*.mkv"))).astype(int)
    assert np.abs(plain_frames - compiled_frames).max() <= 2  # fused kernels reorder float work: close, not equal
    assert any((wgp_env / "cache" / "torchinductor").rglob("*")), "inductor wrote nothing under the wgp cache folder"


def test_offload_auto_is_planned_printed_and_recorded(make_wgp_host, wgp_cli, folder, tmp_path):
    import wgp_diffusers.options as diffusers_plugin

    make_wgp_host(diffusers_plugin, ThirdPlugin())
    result = wgp_cli("run", "-m", SPEC.id, "--model-path", folder, "-p", "x", "--steps", "1", "--offload", "auto",
                     "--device", "cpu", "--progress", "console", "--writer", "video", "--output-dir", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("offload auto: none") == 1, result.stderr
    record = json.loads(wgp_cli("inspect", json.loads(result.stdout)["artifacts"][0]["path"]).stdout)
    assert record["plan"]["offload"] == "auto"
    decision = record["loaded"]["offload_auto"]
    assert decision["mode"] == "none" and decision["fits"] is True and "GiB" in decision["reason"]



def test_int8_weights_through_torchao_load_and_generate(folder, plain):
    import torchao.quantization

    model = ThirdModel.load(SPEC, LoadPlan(weights=folder, device="cpu",
                                           options={"quantize": "int8", "quantize_text_encoder": "int8"}))
    weight = model.pipe.transformer.blocks[0].ffn.net[0].proj.weight
    assert isinstance(weight, torchao.quantization.Int8Tensor)
    encoder_linears = [m for m in model.pipe.text_encoder.modules() if isinstance(m, torch.nn.Linear)]
    assert encoder_linears and all(isinstance(m.weight, torchao.quantization.Int8Tensor) for m in encoder_linears)
    frames = model.generate(GenerationRequest(SPEC.id, PARAMS), Recorder().context).video
    assert frames.shape == plain[0].shape and frames.std() > 0
    assert model.load_report["quantize"] == "int8" and model.load_report["quantize_text_encoder"] == "int8"
