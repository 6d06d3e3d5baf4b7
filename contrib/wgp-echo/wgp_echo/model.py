"""What ``load`` returns: deterministic frames, images and tones from prompt and seed."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np

from wgp_hookspecs import AudioTrack, GenerationContext, GenerationRequest, GenerationResult, ModelSpec


def prompt_seed(prompt: str, seed: int) -> int:
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def pattern(width: int, height: int, frames: int, key: int) -> np.ndarray:
    """A moving colour gradient: uint8 ``[frames, height, width, 3]``."""
    rng = np.random.default_rng(key)
    base = rng.integers(0, 256, size=3)
    slope = rng.integers(1, 7, size=(3, 2))
    y, x = np.mgrid[0:height, 0:width]
    t = np.arange(frames)[:, None, None]
    channels = [(base[c] + slope[c, 0] * x + slope[c, 1] * y + 3 * (c + 1) * t) % 256 for c in range(3)]
    return np.stack(channels, axis=-1).astype(np.uint8)


def disc(width: int, height: int, frames: int) -> np.ndarray:
    """A soft disc moving left to right: float32 alpha ``[frames, height, width]`` in 0..1."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    radius = max(2.0, min(width, height) / 3)
    out = []
    for t in range(frames):
        cx = width * (t + 1) / (frames + 1)
        dist = np.sqrt((x - cx) ** 2 + (y - height / 2) ** 2)
        out.append(np.clip((radius - dist) / 3.0, 0.0, 1.0))
    return np.stack(out).astype(np.float32)


def tone(seconds: float, sample_rate: int, channels: int, hz: float) -> np.ndarray:
    n = max(1, int(round(seconds * sample_rate)))
    wave = 0.3 * np.sin(2 * np.pi * hz * np.arange(n) / sample_rate).astype(np.float32)
    return np.repeat(wave[:, None], channels, axis=1)


class EchoModel:
    """Nothing to load; ``generate`` walks its steps so progress and cancel are real."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    def _steps(self, request: GenerationRequest, context: GenerationContext) -> None:
        total = int(request.get("steps", 1))
        pause = float(request.get("step_seconds", 0.0))
        for i in range(1, total + 1):
            if pause:
                time.sleep(pause)
            context.step(i, total)

    def generate(self, request: GenerationRequest, context: GenerationContext) -> GenerationResult:
        key = prompt_seed(request.prompt, int(request.seed or 0))
        self._steps(request, context)
        kind = self.spec.id
        if kind == "echo-image":
            w, h = int(request.get("width")), int(request.get("height"))
            images = [pattern(w, h, 1, key + i)[0] for i in range(int(request.get("batch_size", 1)))]
            return GenerationResult(images=images, metadata={"key": key})
        if kind == "echo-matte":
            w, h, n = int(request.get("width")), int(request.get("height")), int(request.get("frames"))
            return GenerationResult(video=pattern(w, h, n, key), fps=float(request.get("fps")), mattes=disc(w, h, n),
                                    metadata={"key": key})
        hz = float(request.get("tone_hz") or 220 + key % 660)
        if kind == "echo-audio":
            track = tone(float(request.get("duration_s")), int(request.get("sample_rate")), int(request.get("channels")), hz)
            return GenerationResult(audio=[AudioTrack(track, int(request.get("sample_rate")))], metadata={"key": key, "tone_hz": hz})
        w, h, n = int(request.get("width")), int(request.get("height")), int(request.get("frames"))
        fps = float(request.get("fps"))
        frames = pattern(w, h, n, key)
        if request.get("image_start"):
            frames = _blend_start(frames, str(request.get("image_start")))
        for path in request.get("reference_images") or ():
            frames = _tint(frames, str(path))
        if request.get("soundtrack"):
            audio = [_soundtrack(str(request.get("soundtrack")), n / fps)]
        else:
            audio = [AudioTrack(tone(n / fps, 24_000, 1, hz), 24_000, language="und")] if request.get("audio", True) else []
        return GenerationResult(video=frames, fps=fps, audio=audio, metadata={"key": key, "tone_hz": hz})

    def unload(self) -> None:
        pass


def _soundtrack(path: str, seconds: float) -> AudioTrack:
    """The file's first audio stream, as float samples, cut to the clip's length."""
    import av  # only a job with --audio needs it (the host has already checked the file decodes)

    chunks, rate = [], 0
    with av.open(path) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono")
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                rate = out.sample_rate
                chunks.append(out.to_ndarray().reshape(-1))
    samples = np.concatenate(chunks)[: max(1, int(round(seconds * rate)))]
    return AudioTrack(samples[:, None].astype(np.float32), rate, title="soundtrack")


def _tint(frames: np.ndarray, path: str) -> np.ndarray:
    """Mix a quarter of the reference image's mean colour into every frame."""
    from PIL import Image

    with Image.open(path) as img:
        colour = np.asarray(img.convert("RGB"), dtype=np.float32).mean(axis=(0, 1))
    return (0.75 * frames + 0.25 * colour).round().astype(np.uint8)


def _blend_start(frames: np.ndarray, path: str) -> np.ndarray:
    """Fade from the start image into the pattern over the clip."""
    from PIL import Image

    with Image.open(path) as img:
        start = np.asarray(img.convert("RGB").resize((frames.shape[2], frames.shape[1]))).astype(np.float32)
    weights = np.linspace(1.0, 0.0, len(frames), dtype=np.float32)[:, None, None, None]
    return (weights * start + (1 - weights) * frames).round().astype(np.uint8)
