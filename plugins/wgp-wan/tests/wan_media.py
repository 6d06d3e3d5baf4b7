"""Test media for VACE and Animate: small random videos (lossless FFV1 in MKV, or H.264 in MP4)
and masks, written with PyAV and Pillow; and the frames a direct diffusers user would decode."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from wgp_host.testing import decode_video


def write_video(path: Path, frames: int, size: tuple[int, int] = (32, 32), seed: int = 0, grey: bool = False) -> str:
    """``frames`` random frames of ``size`` (width, height); lossless unless the suffix is .mp4."""
    import av

    rng = np.random.RandomState(seed)
    codec, pix_fmt = ("libx264", "yuv420p") if path.suffix == ".mp4" else ("ffv1", "bgr0")
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(16))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], pix_fmt
        for index in range(frames):
            pixels = (rng.rand(size[1], size[0], 1 if grey else 3) * 255).astype("uint8")
            if grey:  # a mask: white or black blocks
                pixels = np.repeat(np.where(pixels > 127, 255, 0).astype("uint8"), 3, axis=2)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return str(path)


def write_mask(path: Path, half: str, size: tuple[int, int] = (32, 32)) -> str:
    """A still mask, white on the ``left`` or ``top`` half."""
    pixels = np.zeros((size[1], size[0]), np.uint8)
    if half == "left":
        pixels[:, : size[0] // 2] = 255
    else:
        pixels[: size[1] // 2] = 255
    Image.fromarray(pixels, "L").save(path)
    return str(path)


def pil_frames(path: str, count: int | None = None, mode: str = "RGB") -> list[Image.Image]:
    """The first ``count`` frames of a video as PIL images, decoded independently of wgp's reader."""
    frames = decode_video(path)
    return [Image.fromarray(f).convert(mode) for f in frames[:count]]
