"""Video writer speed against the ffmpeg command-line tool on the same raw frames.

Encodes 81 frames at 832x480 (the Wan 2.1 default clip) with wgp's video writer
(PyAV, libx264, preset medium, crf 18, yuv420p) and with `ffmpeg` reading the same
raw RGB frames from a pipe with the same codec, preset, crf and pixel format.
Prints JSON with both medians and the ratio (target: at most 1.1).

Needs Debian's ffmpeg (`apt-get install ffmpeg`).

    python benchmarks/writers.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from wgp_host.defaults.video import CODECS, encode_video

FRAMES, WIDTH, HEIGHT, FPS = 81, 832, 480, 16


def frames() -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    base = np.stack([(x + 2 * t + rng.integers(0, 4, size=x.shape)) % 256 for t in range(FRAMES)])
    return np.stack([base, (base + y) % 256, (base * 2) % 256], axis=-1).astype(np.uint8)


def run_wgp(clip: np.ndarray, out: Path) -> float:
    t0 = time.perf_counter()
    encode_video(out, clip, FPS, "h264")
    return time.perf_counter() - t0


def run_ffmpeg(raw: bytes, out: Path) -> float:
    spec = CODECS["h264"]
    preset = dict(spec.options)["preset"]
    cmd = [
        "ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{WIDTH}x{HEIGHT}",
        "-r", str(FPS), "-i", "pipe:0", "-c:v", "libx264", "-preset", preset, "-crf", str(spec.crf),
        "-pix_fmt", spec.pix_fmt, str(out),
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, input=raw, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg is not installed (apt-get install ffmpeg)")
    clip = frames()
    raw = clip.tobytes()
    tmp = Path(tempfile.mkdtemp(prefix="wgp-bench-writers-"))
    wgp_times, ffmpeg_times = [], []
    for i in range(args.runs):  # interleaved so both see the same machine load
        wgp_times.append(run_wgp(clip, tmp / f"wgp{i}.mp4"))
        ffmpeg_times.append(run_ffmpeg(raw, tmp / f"ffmpeg{i}.mp4"))
    wgp_med, ff_med = statistics.median(wgp_times), statistics.median(ffmpeg_times)
    version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(json.dumps({
        "benchmark": "writers",
        "clip": {"frames": FRAMES, "width": WIDTH, "height": HEIGHT, "fps": FPS},
        "codec": {"encoder": "libx264", "preset": dict(CODECS["h264"].options)["preset"], "crf": CODECS["h264"].crf,
                  "pix_fmt": "yuv420p"},
        "runs": args.runs,
        "wgp_median_s": round(wgp_med, 3),
        "ffmpeg_median_s": round(ff_med, 3),
        "ratio": round(wgp_med / ff_med, 3),
        "target_ratio": 1.1,
        "wgp_bytes": (tmp / "wgp0.mp4").stat().st_size,
        "ffmpeg_bytes": (tmp / "ffmpeg0.mp4").stat().st_size,
        "ffmpeg": version,
    }, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
