"""Group-offload options and the ``--offload auto`` budget, on a family defined in the tests:
diffusers' own group offload (blocks per group, low CPU memory, offload to disk) gives the same
frames; ``--max-memory`` caps what the planner plans for, and with ``--quantize-text-encoder auto``
it quantizes the text encoder (torchao int8) only when that makes the plan fit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_levers import PARAMS, SPEC, ThirdModel, ThirdPlugin
from wgp_hookspecs import GenerationRequest, LoadPlan

from wgp_diffusers import planner
from wgp_host.testing import Recorder


@pytest.fixture(scope="module")
def folder(wgp_tiny_model):
    return wgp_tiny_model("wan2.1-t2v-1.3b")


def frames(folder, **options) -> np.ndarray:
    model = ThirdModel.load(SPEC, LoadPlan(weights=folder, device="cpu", options=options))
    return model.generate(GenerationRequest(SPEC.id, PARAMS), Recorder().context).video


@pytest.fixture(scope="module")
def plain(folder):
    return frames(folder)


@pytest.mark.parametrize("options", [{"offload_blocks": 2}, {"offload_low_cpu_memory": True}], ids=["blocks", "low-cpu"])
def test_group_offload_options_give_the_same_frames(folder, plain, options):
    assert np.array_equal(frames(folder, offload="group", **options), plain)


def test_group_offload_to_disk_keeps_the_groups_in_files(folder, plain, tmp_path):
    disk = tmp_path / "offload"
    ours = frames(folder, offload="group", offload_disk=str(disk))
    assert sorted(p.suffix for p in disk.iterdir()) and all(p.suffix == ".safetensors" for p in disk.iterdir())
    # Weights read back from the files take other float paths: the same frames within one level.
    assert np.abs(ours.astype(int) - plain.astype(int)).max() <= 1


def sizes(folder):
    import diffusers

    return planner.component_sizes(diffusers.WanPipeline.from_pretrained(folder, dtype=torch.float32))


def run_auto(cli, folder, out, *extra):
    result = cli("run", "-m", SPEC.id, "--model-path", folder, "-p", "x", "--steps", "1", "--offload", "auto",
                 "--device", "cpu", *extra, "--writer", "video", "--output-dir", str(out), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(cli("inspect", json.loads(result.stdout)["artifacts"][0]["path"]).stdout)["loaded"]


def test_a_tight_budget_quantizes_the_text_encoder_only_when_that_fits(make_wgp_host, wgp_cli, folder, tmp_path):
    import wgp_diffusers.options as diffusers_plugin

    make_wgp_host(diffusers_plugin, ThirdPlugin())
    parts = sizes(folder)
    total = sum(c.bytes for c in parts)
    encoder = sum(c.bytes for c in parts if c.is_text_encoder)
    # Plain needs total * 1.1 of RAM (the CPU's device); int8 text encoder: a quarter of its fp32 bytes.
    budget = int(((total - encoder * 0.75) * 1.1 + total * 1.1) / 2)
    loaded = run_auto(wgp_cli, folder, tmp_path / "tight", "--max-memory", f"{budget}B", "--quantize-text-encoder", "auto")
    assert loaded["offload_auto"]["quantize_text_encoder"] is True and loaded["offload_auto"]["fits"] is True
    assert loaded["quantize_text_encoder_applied"] == "int8"
    loose = run_auto(wgp_cli, folder, tmp_path / "loose", "--max-memory", f"{int(total * 1.2)}B", "--quantize-text-encoder", "auto")
    assert loose["offload_auto"]["quantize_text_encoder"] is False and loose["quantize_text_encoder_applied"] == "none"
    refused = run_auto(wgp_cli, folder, tmp_path / "no", "--max-memory", f"{budget}B")
    assert refused["offload_auto"]["fits"] is False and "nothing fits" in refused["offload_auto"]["reason"]


def test_the_text_encoder_really_is_int8_after_an_auto_decision(folder):
    import torchao.quantization

    parts = sizes(folder)
    total = sum(c.bytes for c in parts)
    encoder = sum(c.bytes for c in parts if c.is_text_encoder)
    budget = int(((total - encoder * 0.75) * 1.1 + total * 1.1) / 2)
    model = ThirdModel.load(SPEC, LoadPlan(weights=folder, device="cpu", options={
        "offload": "auto", "max_memory": f"{budget}B", "quantize_text_encoder": "auto"}))
    linears = [m for m in model.pipe.text_encoder.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(isinstance(m.weight, torchao.quantization.Int8Tensor) for m in linears)
    video = model.generate(GenerationRequest(SPEC.id, PARAMS), Recorder().context).video
    assert video.shape == (5, 32, 32, 3)


@pytest.mark.parametrize(("args", "message"), [
    (["--offload-blocks", "2"], "--offload-blocks shapes group offload; use it with --offload group or auto (not none)"),
    (["--offload-disk", "/tmp/x"], "--offload-disk shapes group offload"),
    (["--offload-low-cpu-memory"], "--offload-low-cpu-memory shapes group offload"),
    (["--offload", "group", "--offload-blocks", "0"], "--offload-blocks: must be at least 1"),
    (["--max-memory", "8GiB"], "--max-memory is the budget of --offload auto"),
    (["--offload", "auto", "--max-memory", "lots"], "--max-memory: expected a size such as 12GiB"),
    (["--quantize-text-encoder", "auto"], "--quantize-text-encoder auto lets --offload auto decide"),
    (["--offload", "group", "--offload-stream", "--device", "cpu"], "--offload-stream prefetches on a CUDA stream"),
])
def test_offload_options_that_do_not_fit_are_one_line_exit_2(make_wgp_host, wgp_cli, folder, tmp_path, args, message):
    import wgp_diffusers.options as diffusers_plugin

    make_wgp_host(diffusers_plugin, ThirdPlugin())
    out = tmp_path / "out"
    result = wgp_cli("run", "-m", SPEC.id, "--model-path", folder, "-p", "x", *args, "--output-dir", str(out))
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
    assert not out.exists() or not any(out.iterdir())


def test_planner_counts_blocks_per_group_and_streams():
    gib = planner.GIB
    transformer = planner.ComponentSize("transformer", 20 * gib, largest_block_bytes=gib, resident_bytes=gib)
    memory = planner.MemoryFigures("cuda", free_device_bytes=4 * gib, free_ram_bytes=64 * gib)
    # streams on CUDA: resident + 2 x one block = 3 GiB (+10%) fits 4 GiB ...
    assert planner.plan_offload([transformer], memory).mode == "group"
    # ... two blocks per group double what is on the device: 5 GiB does not fit
    assert planner.plan_offload([transformer], memory, blocks_per_group=2).mode == "sequential"
    # without streams, two blocks per group: 1 + 2 = 3 GiB fits again
    assert planner.plan_offload([transformer], memory, blocks_per_group=2, streams=False).mode == "group"


def test_memory_caps_and_sizes():
    memory = planner.MemoryFigures("cuda", free_device_bytes=80 * planner.GIB, free_ram_bytes=64 * planner.GIB)
    assert planner.cap_memory(memory, 12 * planner.GIB).free_device_bytes == 12 * planner.GIB
    assert planner.cap_memory(memory, 12 * planner.GIB).free_ram_bytes == 64 * planner.GIB
    cpu = planner.MemoryFigures("cpu", None, 64 * planner.GIB)
    assert planner.cap_memory(cpu, planner.GIB).free_ram_bytes == planner.GIB
    assert planner.cap_memory(cpu, None) == cpu
    assert planner.parse_size("12GiB") == 12 << 30 and planner.parse_size("1.5 GB") == 1_500_000_000
    assert planner.parse_size("800mib") == 800 << 20 and planner.parse_size("512B") == 512
    for bad in ("12", "GiB", "-1GiB", "0GiB", "12 parsecs"):
        with pytest.raises(ValueError):
            planner.parse_size(bad)
