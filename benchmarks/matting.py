"""MatAnyone ``matte`` at 480p on CPU against bare ResNet-50 forward passes; prints JSON.

    python benchmarks/matting.py [--frames 5] [--warmup 0] [--threads N] [--size 854x480]

Each measurement runs in its own child process so that its peak RSS is its own:
``matte`` (random-weight checkpoint written by the family's tiny builder, loaded with
``from_pretrained``), then the same number of forward passes (one per step: mask step,
``warmup + 1`` first-frame predictions, ``frames - 1`` normal steps) of a ResNet-50
trunk as the network uses it (stem + layer1-3) and of a full ResNet-50 (+ layer4),
both built from our own blocks (no torchvision), fp32, no grad.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def run_matte(frames: int, warmup: int, width: int, height: int) -> dict:
    import numpy as np

    from wgp_matanyone.family import build_tiny
    from wgp_matanyone.network import MatAnyone
    from wgp_matanyone.plugin import SPEC

    with tempfile.TemporaryDirectory() as folder:
        build_tiny(SPEC, folder)
        net = MatAnyone.from_pretrained(folder)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    clip = np.stack([((x + 7 * t) % 256)[..., None] + rng.integers(0, 40, (height, width, 3)) for t in range(frames)])
    clip = np.clip(clip, 0, 255).astype(np.uint8)
    mask = (((x - width / 2) ** 2 + (y - height / 2) ** 2) < (height / 4) ** 2).astype(np.uint8) * 255
    before = _peak_mb()
    t0 = time.perf_counter()
    alpha = net.matte(clip, mask, warmup=warmup)
    seconds = time.perf_counter() - t0
    steps = frames + warmup + 1
    return {"seconds": round(seconds, 3), "steps": steps, "s_per_frame": round(seconds / frames, 3),
            "s_per_step": round(seconds / steps, 3), "peak_rss_mb": round(_peak_mb(), 1),
            "rss_before_mb": round(before, 1), "alpha_mean": float(alpha.mean())}


def run_resnet(passes: int, width: int, height: int, full: bool) -> dict:
    import torch
    from torch import nn

    from wgp_matanyone.blocks import PixelEncoder, bottleneck_layer

    class ResNet50(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.trunk = PixelEncoder()
            self.layer4 = bottleneck_layer(1024, 512, 3, 2) if full else None

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f16 = self.trunk(x)[0]
            return self.layer4(f16) if self.layer4 is not None else f16

    torch.manual_seed(0)
    model = ResNet50().eval()
    pad_h, pad_w = -height % 16, -width % 16
    x = torch.randn(1, 3, height + pad_h, width + pad_w)
    with torch.inference_mode():
        model(x)  # one untimed pass: allocator and oneDNN warm-up
        before = _peak_mb()
        t0 = time.perf_counter()
        for _ in range(passes):
            model(x)
        seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 3), "passes": passes, "s_per_pass": round(seconds / passes, 3),
            "peak_rss_mb": round(_peak_mb(), 1), "rss_before_mb": round(before, 1),
            "params": sum(p.numel() for p in model.parameters())}


def child(args: argparse.Namespace, part: str) -> dict:
    cmd = [sys.executable, __file__, "--part", part, "--frames", str(args.frames), "--warmup", str(args.warmup),
           "--size", args.size, "--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{part} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=0, help="matte warm-up passes (upstream default 10)")
    parser.add_argument("--size", default="854x480")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--part", choices=["matte", "trunk", "full"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.part:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        passes = args.frames + args.warmup + 1
        if args.part == "matte":
            out = run_matte(args.frames, args.warmup, width, height)
        else:
            out = run_resnet(passes, width, height, full=args.part == "full")
        print(json.dumps(out))
        return
    import torch

    matte = child(args, "matte")
    trunk = child(args, "trunk")
    full = child(args, "full")
    print(json.dumps({
        "benchmark": "matting",
        "size": f"{width}x{height}",
        "frames": args.frames,
        "warmup": args.warmup,
        "threads": args.threads or torch.get_num_threads(),
        "torch": torch.__version__,
        "matte": matte,
        "resnet50_trunk": trunk,
        "resnet50_full": full,
        "matte_step_over_trunk_pass": round(matte["s_per_step"] / trunk["s_per_pass"], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
