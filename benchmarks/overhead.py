"""What wgp adds on top of diffusers: `wgp run` on the tiny wan2.1-t2v-1.3b, end to end in a
fresh process, against a plain script that imports diffusers, loads the same folder,
generates with the same arguments and writes the same mp4 with PyAV.

Prints JSON: both medians, their ratio (target: at most 1.05) and the import time of the
wgp_wan registration module (which must not import torch).

    python benchmarks/overhead.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = "wan2.1-t2v-1.3b"
ARGS = {"prompt": "a red fox running through snow", "width": 32, "height": 32, "frames": 9, "steps": 4, "seed": 3}

PLAIN = r"""
import sys
from fractions import Fraction
import av, numpy as np, torch
from diffusers import WanPipeline, UniPCMultistepScheduler
folder, out = sys.argv[1], sys.argv[2]
pipe = WanPipeline.from_pretrained(folder, use_safetensors=True)
pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config, flow_shift=3.0)
pipe.set_progress_bar_config(disable=True)
frames = pipe(prompt="{prompt}", negative_prompt="{negative}", width={width}, height={height}, num_frames={frames},
              num_inference_steps={steps}, guidance_scale={guidance}, output_type="np",
              generator=torch.Generator("cpu").manual_seed({seed})).frames[0]
frames = (frames * 255).round().clip(0, 255).astype(np.uint8)
with av.open(out, "w") as c:
    s = c.add_stream("libx264", rate=Fraction(16))
    s.width, s.height, s.pix_fmt = {width}, {height}, "yuv420p"
    s.options = {{"crf": "18", "preset": "medium"}}
    for i, f in enumerate(frames):
        vf = av.VideoFrame.from_ndarray(f, format="rgb24"); vf.pts = i
        c.mux(s.encode(vf))
    c.mux(s.encode())
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed: {proc.stderr.strip()[-400:]}")
    return elapsed


def registration_import_ms(env: dict[str, str]) -> dict[str, object]:
    code = "import sys, time; t=time.perf_counter(); import wgp_wan.plugin; print((time.perf_counter()-t)*1000, 'torch' in sys.modules)"
    samples = []
    for _ in range(5):
        ms, torch_loaded = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.split()
        samples.append(float(ms))
    return {"median_ms": round(statistics.median(samples), 2), "imports_torch": torch_loaded == "True"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wgp-bench-overhead-"))
    env = dict(os.environ, WGP_HOME=str(tmp / "home"), HF_HUB_OFFLINE="1")
    folder = tmp / MODEL
    subprocess.run([sys.executable, "-m", "wgp_host", "models", "tiny", MODEL, str(folder)], env=env, check=True,
                   capture_output=True)
    from wgp_wan.specs import get_spec

    defaults = get_spec(MODEL).defaults()
    plain_code = PLAIN.format(negative=defaults["negative_prompt"].replace('"', '\\"'), guidance=defaults["guidance"], **ARGS)
    wgp_cmd = [
        sys.executable, "-m", "wgp_host", "run", "-m", MODEL, "--model-path", str(folder), "-p", ARGS["prompt"],
        "--resolution", f"{ARGS['width']}x{ARGS['height']}", "--frames", str(ARGS["frames"]), "--steps",
        str(ARGS["steps"]), "--seed", str(ARGS["seed"]), "--writer", "video", "--metadata-mode", "none",
        "--progress", "none",
    ]
    wgp_times, plain_times = [], []
    timed(wgp_cmd + ["--output-dir", str(tmp / "warm")], env)  # warm the page cache
    for i in range(args.runs):
        wgp_times.append(timed(wgp_cmd + ["--output-dir", str(tmp / f"wgp{i}")], env))
        plain_times.append(timed([sys.executable, "-c", plain_code, str(folder), str(tmp / f"plain{i}.mp4")], env))
    wgp_med, plain_med = statistics.median(wgp_times), statistics.median(plain_times)
    print(json.dumps({
        "benchmark": "overhead",
        "model": MODEL,
        "args": ARGS,
        "runs": args.runs,
        "wgp_run_median_s": round(wgp_med, 3),
        "plain_diffusers_median_s": round(plain_med, 3),
        "ratio": round(wgp_med / plain_med, 3),
        "target_ratio": 1.05,
        "wgp_wan_registration_import": registration_import_ms(env),
    }, indent=2))


if __name__ == "__main__":
    main()
