"""Load, check, generate and the random-weight builder of the ``matanyone`` family."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from wgp_hookspecs import GenerationContext, GenerationRequest, GenerationResult, LoadPlan, ModelSpec, UserError

from .media import frame_range, probe_video, read_audio, read_frames, read_mask

#: Background of the green-screen preview, as upstream's (RGB / 255).
GREEN = np.array([120, 255, 155], dtype=np.float32) / 255
NO_WEIGHTS = (
    "no MatAnyone weights: they are under a non-commercial licence and wgp does not download them; "
    "get model.safetensors and config.json from https://huggingface.co/PeiqingYang/MatAnyone yourself, "
    "then pass --model-path DIR (or a .safetensors file) or set model_paths.matanyone in the config"
)


def check_inputs(params: Mapping[str, Any]) -> list[str]:
    """One-line errors for a video without video, a mask of another size, a range past the end."""
    if not params.get("video") or not params.get("mask"):
        return []
    info = probe_video(params["video"])
    frame_range(info, int(params.get("start_frame") or 0), params.get("end_frame"))
    mask = read_mask(params["mask"], info.width, info.height)
    if not mask.any():
        raise UserError(f"the mask {Path(params['mask']).name} selects nothing (every pixel is black); "
                        "paint the object white")
    return []


def resolve_device(name: str) -> Any:
    import torch

    if name in ("auto", "", None):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name} is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError("device mps is not available on this machine")
    return device


def load(spec: ModelSpec, plan: LoadPlan) -> MatAnyoneModel:
    if not plan.weights:
        raise UserError(NO_WEIGHTS)
    # --dtype and --offload are diffusers plan options: the host refuses them for this
    # family (fp32 only, 35M parameters: nothing to offload) before anything loads.
    path = Path(plan.weights).expanduser()
    if not path.exists():
        raise UserError(f"MatAnyone weights not found at {plan.weights}: wgp loads local files only. {NO_WEIGHTS}")
    from .network import MatAnyone

    device = resolve_device(plan.device)
    if device.type == "cuda":  # fp32 means fp32: TF32 moves alpha far beyond the 1e-3 parity budget
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return MatAnyoneModel(MatAnyone.from_pretrained(path, device=device))


class MatAnyoneModel:
    """A loaded network; ``generate`` turns (video, mask) into mattes, foreground and audio."""

    def __init__(self, net: Any) -> None:
        self.net = net

    def generate(self, request: GenerationRequest, context: GenerationContext) -> GenerationResult:
        from .inference import EmptyMaskError

        params = request.params
        info = probe_video(params["video"])
        start, stop = frame_range(info, int(params.get("start_frame") or 0), params.get("end_frame"))
        mask = read_mask(params["mask"], info.width, info.height)
        frames = read_frames(params["video"], start, stop)
        tracks = read_audio(params["video"], info, start / info.fps, stop / info.fps)
        try:
            alpha = self.net.matte(
                frames, mask,
                warmup=int(params.get("warmup", 10)), erode=int(params.get("erode", 10)), dilate=int(params.get("dilate", 10)),
                on_frame=lambda i, total: context.step(i, total), check=context.cancel.raise_if_cancelled,
            )
        except EmptyMaskError as exc:
            raise UserError(str(exc)) from None
        if params.get("invert"):
            alpha = (1.0 - alpha).astype(np.float32)
        audio_tracks = [
            {"path": None, "sample_rate": t.sample_rate, "duration_s": round(t.duration_s, 6), "language": t.language,
             "channels": t.channels, "codec": t.codec, "title": t.title, "stream": i}
            for i, t in enumerate(tracks)
        ]
        return GenerationResult(
            video=frames,
            fps=info.fps,
            audio=tracks,
            mattes=alpha,
            video_role="mask_foreground" if params.get("foreground", True) else None,
            extra_videos={"greenscreen": greenscreen(frames, alpha)} if params.get("greenscreen") else {},
            metadata={
                "source": str(params["video"]),
                "start_frame": start,
                "end_frame": stop,
                "frames": int(len(frames)),
                "fps": info.fps,
                "invert": bool(params.get("invert")),
                "audio_tracks": audio_tracks,
            },
        )

    def unload(self) -> None:
        self.net = None


def greenscreen(frames: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """frame/255 * alpha + green * (1 - alpha), as uint8 (upstream's preview composite)."""
    a = alpha[..., None]
    out = frames.astype(np.float32) / 255 * a + GREEN * (1 - a)
    return np.round(np.clip(out * 255, 0, 255)).astype(np.uint8)


def build_tiny(spec: ModelSpec, folder: Any, seed: int = 0) -> None:
    """Random weights (seeded, deterministic) in the official layout.

    The checkpoint keeps the real shapes (35M parameters, ~141 MB): a strict load of the
    official layout demands them, so there is no smaller "tiny" variant.
    """
    from .network import MatAnyone

    config = {"cfg": {"model": {"pixel_dim": 256, "key_dim": 64, "value_dim": 256, "sensory_dim": 256, "embed_dim": 256},
                      "note": "random weights made by wgp models tiny"}}
    MatAnyone(config).init_random(seed).save_pretrained(folder)
