"""The Wan model ids, their weights and their parameters.

Defaults follow the published recommendations (model cards, the official
Wan 2.1 / 2.2 generation configs and the diffusers examples).  ``options``
holds what the loader and the tiny-model builder need to know about each
checkpoint's layout.  This module is data only: no torch, no numpy.
"""

from __future__ import annotations

from typing import Any

from wgp_hookspecs import SEED_PARAM, ModelSpec, Param

T2V = "text-to-video"
I2V = "image-to-video"
FLF2V = "first-last-frame-to-video"


def _params(
    *,
    width: int,
    height: int,
    frames: int = 81,
    steps: int = 50,
    guidance: float = 5.0,
    guidance_2: float | None = None,
    flow_shift: float,
    fps: int = 16,
    size_multiple: int = 16,
    image_start: str | None = None,
    image_end: bool = False,
) -> tuple[Param, ...]:
    """The parameter schema of one model; ``image_start`` is ``"required"``, ``"optional"`` or None."""
    params = [
        Param("prompt", "str", required=True, help="what the video shows"),
        Param("negative_prompt", "str", default="", help="what to steer away from"),
        SEED_PARAM,
        Param("width", "int", default=width, minimum=size_multiple, multiple_of=size_multiple, help="frame width in pixels"),
        Param("height", "int", default=height, minimum=size_multiple, multiple_of=size_multiple, help="frame height in pixels"),
        Param("frames", "int", default=frames, minimum=1, multiple_of=4, remainder=1, help="number of frames (4n+1)"),
        Param("steps", "int", default=steps, minimum=1, maximum=1000, help="denoising steps"),
        Param("guidance", "float", default=guidance, minimum=0.0, help="classifier-free guidance scale"),
    ]
    if guidance_2 is not None:
        params.append(
            Param("guidance_2", "float", default=guidance_2, minimum=0.0, help="guidance scale of the low-noise expert (transformer_2)")
        )
    params += [
        Param("flow_shift", "float", default=flow_shift, minimum=0.0, help="scheduler flow shift (higher for larger frames)"),
        Param("fps", "int", default=fps, minimum=1, maximum=240, help="frames per second of the output video"),
    ]
    if image_start is not None:
        required = image_start == "required"
        params.append(
            Param("image_start", "image", required=required, help="first frame" + ("" if required else " (image-to-video)"))
        )
    if image_end:
        params.append(Param("image_end", "image", required=True, help="last frame"))
    return tuple(params)


def _spec(id: str, repo: str, capabilities: set[str], description: str, params: tuple[Param, ...], **options: Any) -> ModelSpec:
    return ModelSpec(
        id=id,
        capabilities=frozenset(capabilities),
        params=params,
        description=description,
        weights=repo,
        options=options,
    )


#: Every Wan model wgp knows.  ``options``:
#:   pipeline      "t2v", "i2v" or "ti2v" (text, image, or either on one checkpoint)
#:   image_encoder the checkpoint has a CLIP image encoder (Wan 2.1 image models)
#:   last_image    first-last-frame conditioning (image_end)
#:   boundary_ratio  two experts: transformer for t >= ratio * 1000, transformer_2 below
#:   vae           "2.1" (z_dim 16, 8x) or "2.2" (z_dim 48, residual, 16x)
WAN_MODELS: tuple[ModelSpec, ...] = (
    _spec(
        "wan2.1-t2v-1.3b",
        "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
        {T2V},
        "Wan 2.1 text-to-video, 1.3B, 480p; runs in about 8 GB of VRAM",
        _params(width=832, height=480, flow_shift=3.0),
        pipeline="t2v", vae="2.1",
    ),
    _spec(
        "wan2.1-t2v-14b",
        "Wan-AI/Wan2.1-T2V-14B-Diffusers",
        {T2V},
        "Wan 2.1 text-to-video, 14B, 720p (480p also works)",
        _params(width=1280, height=720, flow_shift=5.0),
        pipeline="t2v", vae="2.1",
    ),
    _spec(
        "wan2.1-i2v-14b-480p",
        "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
        {I2V},
        "Wan 2.1 image-to-video, 14B, 480p",
        _params(width=832, height=480, flow_shift=3.0, image_start="required"),
        pipeline="i2v", vae="2.1", image_encoder=True,
    ),
    _spec(
        "wan2.1-i2v-14b-720p",
        "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers",
        {I2V},
        "Wan 2.1 image-to-video, 14B, 720p",
        _params(width=1280, height=720, flow_shift=5.0, image_start="required"),
        pipeline="i2v", vae="2.1", image_encoder=True,
    ),
    _spec(
        "wan2.1-flf2v-14b",
        "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers",
        {FLF2V},
        "Wan 2.1 first-last-frame-to-video, 14B, 720p",
        # The official generator uses shift 16 for first-last-frame.
        _params(width=1280, height=720, flow_shift=16.0, image_start="required", image_end=True),
        pipeline="i2v", vae="2.1", image_encoder=True, last_image=True,
    ),
    _spec(
        "wan2.2-t2v-a14b",
        "Wan-AI/Wan2.2-T2V-A14B-Diffusers",
        {T2V},
        "Wan 2.2 text-to-video, two 14B experts (high noise, low noise), 720p",
        # Official config: 40 steps, shift 12, guidance 4.0 (high noise) / 3.0 (low noise).
        _params(width=1280, height=720, steps=40, guidance=4.0, guidance_2=3.0, flow_shift=12.0),
        pipeline="t2v", vae="2.1", boundary_ratio=0.875,
    ),
    _spec(
        "wan2.2-i2v-a14b",
        "Wan-AI/Wan2.2-I2V-A14B-Diffusers",
        {I2V},
        "Wan 2.2 image-to-video, two 14B experts (high noise, low noise), 720p",
        # Official config: 40 steps, shift 5, guidance 3.5 / 3.5.
        _params(width=1280, height=720, steps=40, guidance=3.5, guidance_2=3.5, flow_shift=5.0, image_start="required"),
        pipeline="i2v", vae="2.1", boundary_ratio=0.9,
    ),
    _spec(
        "wan2.2-ti2v-5b",
        "Wan-AI/Wan2.2-TI2V-5B-Diffusers",
        {T2V, I2V},
        "Wan 2.2 text- or image-to-video, 5B, 720p at 24 fps (1280x704); image_start makes it image-to-video",
        # The 16x VAE and 2x2 patches make sizes multiples of 32.
        _params(width=1280, height=704, frames=121, flow_shift=5.0, fps=24, size_multiple=32, image_start="optional"),
        pipeline="ti2v", vae="2.2",
    ),
)

WAN_MODEL_IDS = tuple(spec.id for spec in WAN_MODELS)


def get_spec(model_id: str) -> ModelSpec:
    """The spec of ``model_id``; KeyError names the known ids."""
    for spec in WAN_MODELS:
        if spec.id == model_id:
            return spec
    raise KeyError(f"unknown Wan model {model_id!r}; known: {', '.join(WAN_MODEL_IDS)}")
