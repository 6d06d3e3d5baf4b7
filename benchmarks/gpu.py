"""Levers and offload plans on CUDA: the full Wan 2.1 1.3B transformer config with random weights.

832x480, 81 frames, 30 steps (the published 1.3B recipe's size), bf16.  For each case, once
through wgp's ``DiffusersModel`` and once as plain diffusers with the same setting applied by
hand: wall seconds and peak VRAM (``torch.cuda.max_memory_allocated``).  Without CUDA it says
so and exits 0 (CI never has a GPU).

    python benchmarks/gpu.py [--steps 30] [--frames 81]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

CASES = [
    ("plain", {}),
    ("fbcache 0.05", {"cache": "fbcache", "cache_options": ["threshold=0.05"]}),
    ("fbcache 0.1", {"cache": "fbcache", "cache_options": ["threshold=0.1"]}),
    ("attention sage", {"attention": "sage"}),
    ("attention flash", {"attention": "flash"}),
    ("compile regional", {"compile": "regional"}),
    ("storage fp8", {"storage_dtype": "fp8"}),
    ("offload model", {"offload": "model"}),
    ("quantize int8", {"quantize": "int8"}),
    ("quantize fp8", {"quantize": "fp8"}),
    ("offload group", {"offload": "group"}),
    ("offload group 4 blocks", {"offload": "group", "offload_blocks": 4}),
    ("offload group no stream", {"offload": "group", "offload_stream": False}),
    ("offload group low cpu memory", {"offload": "group", "offload_low_cpu_memory": True}),
    ("offload sequential", {"offload": "sequential"}),
    ("offload auto", {"offload": "auto"}),
    ("offload auto 4GiB", {"offload": "auto", "max_memory": "4GiB", "quantize_text_encoder": "auto"}),
]


def build(folder: Path) -> None:
    """wgp-wan's tiny pipeline with the real 1.3B transformer config (random weights, 1.4B parameters)."""
    from diffusers import WanTransformer3DModel
    from wgp_wan.specs import get_spec
    from wgp_wan.tiny import build_tiny_pipeline

    from wgp_diffusers.tiny import save_tiny_pipeline, seeded_weights

    pipe = build_tiny_pipeline(get_spec("wan2.1-t2v-1.3b"))
    with seeded_weights(1):
        pipe.transformer = WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
            text_dim=pipe.transformer.config.text_dim, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024,
        )
    save_tiny_pipeline(pipe, folder)


def run(folder: str, options: dict, steps: int, frames: int) -> dict:
    import torch
    from wgp_hookspecs import CancelToken, GenerationContext, GenerationRequest, LoadPlan
    from wgp_wan.plugin import WAN_FAMILY
    from wgp_wan.specs import get_spec

    spec = get_spec("wan2.1-t2v-1.3b")
    params = {**spec.defaults(), "width": 832, "height": 480, "frames": frames, "steps": steps, "seed": 1, "prompt": "a fox"}
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    try:
        model = WAN_FAMILY.load(spec, LoadPlan(weights=folder, device="cuda", options={"dtype": "bf16", **options}))
        context = GenerationContext(job="bench", cancel=CancelToken(), emit=lambda *a, **k: None)
        t0 = time.perf_counter()
        model.generate(GenerationRequest(spec.id, params), context)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        model.unload()
    except Exception as exc:  # noqa: BLE001 - a lever this GPU cannot run is a result too
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    return {"seconds": round(seconds, 2), "peak_vram_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--frames", type=int, default=81)
    args = parser.parse_args()
    try:
        import torch

        cuda = torch.cuda.is_available()
    except ImportError:
        cuda = False
    if not cuda:
        print(json.dumps({"benchmark": "gpu", "ran": False, "reason": "no CUDA device on this machine"}))
        return
    folder = Path(tempfile.mkdtemp(prefix="wgp-gpu-")) / "model"
    build(folder)
    results = {name: run(str(folder), options, args.steps, args.frames) for name, options in CASES}
    plain = results["plain"].get("seconds")
    for row in results.values():
        if plain and "seconds" in row:
            row["speedup"] = round(plain / row["seconds"], 2)
    print(json.dumps({"benchmark": "gpu", "ran": True, "device": torch.cuda.get_device_name(), "steps": args.steps,
                      "frames": args.frames, "size": "832x480", "results": results}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
