"""Synthetic media for the matanyone tests: a moving disc with two audio tracks, and its mask."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image


def scene(frames: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 frames of a bright disc moving over a textured background, and the frame-0 disc mask (0/255)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    background = np.stack([(x * 3) % 256, (y * 5) % 256, ((x + y) * 2) % 256], axis=-1) * 0.5
    out, mask = [], None
    for t in range(frames):
        cx, cy, r = width * 0.35 + 2 * t, height * 0.5, min(height, width) * 0.3
        inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        frame = np.where(inside[..., None], np.array([230.0, 200.0, 60.0]), background)
        out.append(frame.astype(np.uint8))
        if mask is None:
            mask = inside.astype(np.uint8) * 255
    assert mask is not None
    return np.stack(out), mask


def tone(seconds: float, rate: int, channels: int, hz: float) -> np.ndarray:
    n = int(round(seconds * rate))
    wave = 0.3 * np.sin(2 * np.pi * hz * np.arange(n) / rate).astype(np.float32)
    return np.repeat(wave[:, None], channels, axis=1)


def write_clip(path: Path, frames: np.ndarray, fps: int, tracks: list[tuple[str, int, int, str]]) -> None:
    """Encode ``frames`` (h264) and tracks ``(encoder, rate, channels, language)`` lasting as long as the video."""
    seconds = len(frames) / fps
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=Fraction(fps))
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        video.options = {"crf": "10"}
        audio = []
        for encoder, rate, channels, language in tracks:
            stream = container.add_stream(encoder, rate=rate)
            stream.layout = "stereo" if channels == 2 else "mono"
            stream.metadata["language"] = language
            stream.format = "flt" if encoder == "libopus" else "fltp"
            audio.append((stream, tone(seconds, rate, channels, 330.0 + 110 * len(audio))))
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode())
        for stream, samples in audio:
            size = stream.codec_context.frame_size or 1152
            total = -(-len(samples) // size) * size
            padded = np.zeros((total, samples.shape[1]), np.float32)
            padded[: len(samples)] = samples
            packed = stream.codec_context.format.name == "flt"  # opus: interleaved
            for start in range(0, total, size):
                chunk = padded[start : start + size]
                data = np.ascontiguousarray(chunk.reshape(1, -1) if packed else chunk.T)
                frame = av.AudioFrame.from_ndarray(data, format="flt" if packed else "fltp", layout=stream.layout.name)
                frame.sample_rate = stream.codec_context.sample_rate
                frame.pts = start
                container.mux(stream.encode(frame))
            container.mux(stream.encode())


def write_mask(path: Path, mask: np.ndarray) -> None:
    Image.fromarray(mask, mode="L").save(path)


def decode_video(path: Path, fmt: str = "rgb24") -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format=fmt) for f in container.decode(video=0)])


def audio_streams(path: Path) -> list[dict]:
    """Language, codec and decoded duration of every audio stream of a file."""
    out = []
    with av.open(str(path)) as container:
        for stream in container.streams.audio:
            out.append({"language": stream.metadata.get("language"), "codec": stream.codec_context.name,
                        "rate": stream.codec_context.sample_rate})
    for i, info in enumerate(out):
        with av.open(str(path)) as container:
            n = sum(f.samples for f in container.decode(audio=i))
        info["duration_s"] = n / info["rate"]
    return out
