"""What ``load`` returns: ``generate`` turns a validated request into frames; the host writes them."""

from __future__ import annotations

import hashlib

import numpy as np

from wgp_hookspecs import GenerationContext, GenerationRequest, GenerationResult, ModelSpec


def request_seed(prompt: str, seed: int) -> int:
    """One number from prompt and seed: the same request always gives the same frames."""
    return int.from_bytes(hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()[:8], "little")


class {{ cookiecutter.class_name }}Model:
    """Noise that turns, step by step, into colour bands drifting over time."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    def generate(self, request: GenerationRequest, context: GenerationContext) -> GenerationResult:
        width, height = int(request.get("width")), int(request.get("height"))
        frames, steps = int(request.get("frames")), int(request.get("steps"))
        rng = np.random.default_rng(request_seed(request.prompt, int(request.seed or 0)))
        t = np.arange(frames, dtype=np.float32)[:, None, None, None] / max(frames, 1)
        y = np.linspace(0, 1, height, dtype=np.float32)[None, :, None, None]
        x = np.linspace(0, 1, width, dtype=np.float32)[None, None, :, None]
        target = (rng.random(3, dtype=np.float32) + 0.6 * x + 0.3 * y + t) % 1.0
        video = rng.random(target.shape, dtype=np.float32)
        for i in range(1, steps + 1):
            video += (target - video) / (steps + 2 - i)
            # Reports progress and raises JobCancelled when the user cancelled: let it propagate.
            context.step(i, steps)
        return GenerationResult(
            video=(video * 255).round().astype(np.uint8),
            fps=float(request.get("fps")),
            metadata={"seed": int(request.seed or 0)},
        )

    def unload(self) -> None:
        """Nothing to release; a real model frees its weights here."""
