"""Speed levers on CPU: wgp against plain diffusers, with and without the same diffusers config.

A random-weight Wan 2.1 whose transformer dominates (8 blocks, 4 heads of 128, FFN 1536;
the tiny VAE and text encoder of wgp-wan), 64x64, 17 frames, 20 steps.  Every case runs in
its own process (so peak RSS is the case's own), twice: through wgp's ``DiffusersModel``
(the path every family takes) and as a plain diffusers script with the same config applied
by hand.  Printed as JSON per case: wall seconds (median of ``--runs``), speed-up against
the plain uncached run, wgp's overhead against plain diffusers with the same config,
feed-forward calls of the last transformer block (a cache must really skip them), PSNR of
the frames against the uncached run, and peak RSS.

Random weights do not behave like trained ones: the knob values that pay off here are not
the recommended defaults (see docs/performance.md).

    python benchmarks/levers.py [--runs 3] [--steps 20] [--quick] [--only fbcache ...]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZE = {"width": 64, "height": 64, "frames": 17}
PROMPT = "a red fox runs through deep snow at dawn"
SEED = 3


def build(folder: Path) -> None:
    """Save the benchmark model: wgp-wan's tiny pipeline with a transformer that dominates."""
    from diffusers import WanTransformer3DModel
    from wgp_wan.specs import get_spec
    from wgp_wan.tiny import TEXT_DIM, build_tiny_pipeline

    from wgp_diffusers.tiny import save_tiny_pipeline, seeded_weights

    pipe = build_tiny_pipeline(get_spec("wan2.1-t2v-1.3b"))
    with seeded_weights(1):
        pipe.transformer = WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=4, attention_head_dim=128, in_channels=16, out_channels=16,
            text_dim=TEXT_DIM, freq_dim=256, ffn_dim=1536, num_layers=8, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads", rope_max_seq_len=1024,
        )
    save_tiny_pipeline(pipe, folder)


def run_case(folder: str, path: str, options: dict, steps: int, runs: int, frames_out: str) -> dict:
    """One case in this process: ``path`` is ``wgp`` or ``diffusers``."""
    import numpy as np
    import torch
    from wgp_hookspecs import CancelToken, GenerationContext, GenerationRequest, LoadPlan
    from wgp_wan.pipeline import pipeline_kwargs
    from wgp_wan.plugin import WAN_FAMILY
    from wgp_wan.specs import get_spec

    from wgp_diffusers import levers, to_uint8_video

    torch.set_num_threads(2)
    spec = get_spec("wan2.1-t2v-1.3b")
    params = {**spec.defaults(), **SIZE, "steps": steps, "seed": SEED, "prompt": PROMPT, "flow_shift": 3.0}
    plan = LoadPlan(weights=folder, device="cpu", options=options)
    if path == "wgp":
        model = WAN_FAMILY.load(spec, plan)
        transformer = model.pipe.transformer
        context = GenerationContext(job="bench", cancel=CancelToken(), emit=lambda *a, **k: None)

        def once():
            return model.generate(GenerationRequest(spec.id, params), context).video
    else:
        import diffusers

        extra = {}
        if options.get("quantize", "none") != "none":
            import torchao.quantization

            extra["quantization_config"] = diffusers.PipelineQuantizationConfig(
                quant_mapping={"transformer": diffusers.TorchAoConfig(torchao.quantization.Int8WeightOnlyConfig())})
        if options.get("transformer_file"):
            extra["transformer"] = diffusers.WanTransformer3DModel.from_single_file(
                options["transformer_file"], config=folder, subfolder="transformer", torch_dtype=torch.float32,
                quantization_config=diffusers.GGUFQuantizationConfig(compute_dtype=torch.float32))
        pipe = diffusers.WanPipeline.from_pretrained(folder, dtype=torch.float32, **extra)
        pipe.set_progress_bar_config(disable=True)
        pipe.scheduler = diffusers.UniPCMultistepScheduler.from_config(pipe.scheduler.config, flow_shift=3.0)
        transformer = pipe.transformer
        if options.get("cache", "none") != "none":
            config = levers.cache_config(options["cache"], levers.cache_options(plan),
                                         {"current_timestep_callback": lambda: pipe.current_timestep})
            transformer.enable_cache(config)
        if options.get("storage_dtype", "none") != "none":
            transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.float32)

        def once():
            out = pipe(**pipeline_kwargs(params), generator=torch.Generator("cpu").manual_seed(SEED))
            return to_uint8_video(out.frames)

    calls = [0]
    transformer.blocks[-1].ffn.register_forward_pre_hook(lambda m, a: calls.__setitem__(0, calls[0] + 1))
    frames = once()  # warm-up (and the frames)
    calls_per_run = calls[0]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    np.save(frames_out, frames)
    return {
        "seconds": round(statistics.median(times), 4),
        "ffn_calls": calls_per_run,
        # Quantized tensors (torchao, GGUF) report their storage through nbytes, not element_size.
        "transformer_bytes": sum(_stored_bytes(p) for p in transformer.parameters()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _stored_bytes(tensor) -> int:
    inner = [getattr(tensor, name) for name in getattr(tensor, "__tensor_flatten__", lambda: ([], None))()[0]]
    if inner:  # a torchao tensor subclass: its int8 data and scales
        return sum(_stored_bytes(t) for t in inner)
    return tensor.untyped_storage().nbytes() if tensor.device.type != "meta" else 0


def psnr(a, b) -> float:
    import numpy as np

    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else round(10 * math.log10(255.0**2 / mse), 2)


def cases(quick: bool, gguf_file: str | None = None) -> list[tuple[str, dict]]:
    out = [("plain", {})]
    sweeps = {
        "fbcache": ("threshold", [0.05, 0.3] if quick else [0.05, 0.1, 0.2, 0.3, 0.5]),
        "seacache": ("threshold", [0.25] if quick else [0.1, 0.25, 0.5]),
        "pab": ("spatial_attention_block_skip_range", [2] if quick else [2, 3, 4]),
        "taylorseer": ("cache_interval", [3] if quick else [2, 3, 5]),
    }
    for cache, (knob, values) in sweeps.items():
        out += [(f"{cache} {knob}={v}", {"cache": cache, "cache_options": [f"{knob}={v}"]}) for v in values]
    out += [("textkv", {"cache": "textkv"}), ("attention native", {"attention": "native"}),
            ("storage fp8", {"storage_dtype": "fp8"}), ("quantize int8", {"quantize": "int8"})]
    if gguf_file:
        out.append(("transformer-file gguf Q8_0", {"transformer_file": gguf_file}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="one value per knob")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="only the cases whose name contains TEXT (repeatable; the plain reference always runs)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:  # a child process: one case, one path
        spec = json.loads(args.case)
        print(json.dumps(run_case(spec["folder"], spec["path"], spec["options"], args.steps, args.runs, spec["frames"])))
        return
    import numpy as np

    work = Path(tempfile.mkdtemp(prefix="wgp-levers-"))
    folder = work / "model"
    build(folder)
    from diffusers import WanTransformer3DModel

    from wgp_diffusers.tiny import save_gguf

    gguf_file = save_gguf(WanTransformer3DModel.from_pretrained(folder, subfolder="transformer").state_dict(),
                          work / "transformer-Q8_0.gguf")
    results, reference = [], None
    for name, options in cases(args.quick, str(gguf_file)):
        if args.only and name != "plain" and not any(text in name for text in args.only):
            continue
        row: dict = {"case": name, "options": options}
        for path in ("wgp", "diffusers"):
            frames = work / f"{len(results)}-{path}.npy"
            child = {"folder": str(folder), "path": path, "options": options, "frames": str(frames)}
            proc = subprocess.run([sys.executable, __file__, "--case", json.dumps(child), "--runs", str(args.runs),
                                   "--steps", str(args.steps)], capture_output=True, text=True)
            if proc.returncode:
                row[path] = {"error": proc.stderr.strip().splitlines()[-1]}
                continue
            row[path] = json.loads(proc.stdout.strip().splitlines()[-1])
            row[path]["frames"] = np.load(frames)
        if "error" in row["wgp"] or "error" in row["diffusers"]:
            results.append({k: v for k, v in row.items()})
            continue
        if reference is None:
            reference = {"seconds": row["diffusers"]["seconds"], "frames": row["diffusers"]["frames"],
                         "transformer_bytes": row["diffusers"]["transformer_bytes"]}
        ours, plain = row["wgp"], row["diffusers"]
        row.update({
            "identical_to_diffusers": bool(np.array_equal(ours["frames"], plain["frames"])),
            "psnr_db_vs_uncached": psnr(ours["frames"], reference["frames"]),
            "speedup_vs_uncached": round(reference["seconds"] / ours["seconds"], 2),
            "wgp_overhead_pct": round(100 * (ours["seconds"] / plain["seconds"] - 1), 1),
            "transformer_bytes_vs_fp32": round(ours["transformer_bytes"] / reference["transformer_bytes"], 3),
        })
        for path in ("wgp", "diffusers"):
            row[path].pop("frames")
        results.append(row)
    print(json.dumps({"benchmark": "levers", "device": "cpu", "size": SIZE, "steps": args.steps, "runs": args.runs,
                      "targets": {"psnr_db": 30, "speedup": 1.5, "fp8_bytes_ratio": 0.35, "overhead_off_pct": 1},
                      "results": results}, indent=2, default=str))


if __name__ == "__main__":
    main()
