"""The LTX-Video model ids (one per version published in diffusers format), weights, parameters.

The root of ``Lightricks/LTX-Video`` is the 0.9.0 diffusers layout; later versions have
repositories of their own and need other settings: a timestep-aware VAE from 0.9.1 on
(decode timestep and noise), a new VAE and ``LTXConditionPipeline`` from 0.9.5 on, a 13B
transformer at 0.9.7, and guidance 1 with few steps when distilled.  Each default's source
is beside it: the original repository's ``configs/ltxv-*.yaml`` and ``inference.py``
(github.com/Lightricks/LTX-Video), the diffusers LTX-Video docs and pipelines, the model
card.  ``ltx-video`` also reads a ``--model-path`` folder's version from its configs
(:mod:`wgp_ltx.versions`) and runs it as that version's id.  Frames are 8n+1 and sizes
multiples of 32 (the VAE compresses 8x in time, 32x in space).  Data only: no torch.
"""

from __future__ import annotations

from wgp_hookspecs import SEED_PARAM, ModelSpec, Param

from wgp_diffusers.sizing import SizeRule

T2V = "text-to-video"
I2V = "image-to-video"

#: The negative prompt of the original inference.py (``--negative_prompt`` default) and of
#: the model card's and diffusers docs' examples.
NEGATIVE_PROMPT = "worst quality, inconsistent motion, blurry, jittery, distorted"

#: What the model ids' ``options["layout"]`` says, and what :func:`wgp_ltx.versions.detect_layout`
#: reads from a folder's configs: the checkpoints that differ in their configs.
LAYOUTS = {
    "0.9.0": "2B, VAE without timestep conditioning",
    "0.9.1": "2B, timestep-aware VAE",
    "0.9.5": "2B, the 0.9.5 VAE (LTXVideo095DownBlock3D)",
    "13b": "13B transformer (48 layers), the 0.9.5 VAE",
}


def _params(
    *,
    width: int,
    height: int,
    frames: int,
    fps: int,
    steps: int,
    guidance: float,
    decode_timestep: float,
    decode_noise_scale: float | None,
    max_sequence_length: int,
) -> tuple[Param, ...]:
    return (
        Param("prompt", "str", required=True, help="what the video shows (long, detailed prompts work best)"),
        Param("negative_prompt", "str", default=NEGATIVE_PROMPT, help="what to steer away from (unused at guidance 1)"),
        SEED_PARAM,
        Param("width", "int", default=width, minimum=32, multiple_of=32, help="frame width in pixels"),
        Param("height", "int", default=height, minimum=32, multiple_of=32, help="frame height in pixels"),
        Param("frames", "int", default=frames, minimum=1, multiple_of=8, remainder=1, help="number of frames (8n+1)"),
        Param("steps", "int", default=steps, minimum=1, maximum=1000, help="denoising steps"),
        Param("guidance", "float", default=guidance, minimum=0.0, help="classifier-free guidance scale (1 turns it off)"),
        Param("fps", "int", default=fps, minimum=1, maximum=240, help="frames per second: of the output and of the model's frame_rate"),
        Param(
            "decode_timestep", "float", default=decode_timestep, minimum=0.0, maximum=1.0,
            help="timestep the VAE decodes at (timestep-aware VAEs: LTX-Video 0.9.1 and later)",
        ),
        Param(
            "decode_noise_scale", "float", default=decode_noise_scale, minimum=0.0, maximum=1.0,
            help="noise mixed into the latents before decoding (unset: the decode timestep)",
        ),
        Param("max_sequence_length", "int", default=max_sequence_length, minimum=1, maximum=512,
              help="T5 prompt tokens (a longer prompt is cut, with a warning)"),
        Param("image_start", "image", help="first frame: makes it image-to-video (--image-start)"),
    )


# Shared by the 0.9.1+ ids: configs/ltxv-2b-0.9.1.yaml, ltxv-2b-0.9.5.yaml, ltxv-13b-0.9.7-*.yaml and
# ltxv-13b-0.9.8-distilled.yaml all set decode_timestep 0.05 and decode_noise_scale 0.025; the
# diffusers docs say the same for "timestep-aware VAE variants (LTX-Video 0.9.1 and above)".
_DECODE = {"decode_timestep": 0.05, "decode_noise_scale": 0.025}
# The 13B ids: README "v0.9.6 ... New default resolution and FPS: 1216 x 704 pixels at 30 FPS", and
# inference.py's defaults since (height 704, width 1216, num_frames 121, frame_rate 30).
_13B = {"width": 1216, "height": 704, "frames": 121, "fps": 30}
# LTXConditionPipeline's max_sequence_length default (256): the pipeline diffusers runs 0.9.5+ with.
_CONDITION_TOKENS = 256
# Distilled checkpoints: guidance 1 (configs/ltxv-13b-0.9.x-distilled.yaml guidance_scale 1; the
# diffusers docs: "requires guidance_scale to be set to 1.0"), 8 steps (the docs: "between 4 and 10";
# their first-pass schedule has 8 timesteps).
_DISTILLED = {"steps": 8, "guidance": 1.0}


#: With a start image and no size, the video takes the image's aspect ratio at the default's area,
#: sides floored to 32; the image is cropped to the output's aspect ratio, then resized (the
#: original inference.py's load_image_to_tensor_with_resize_and_crop).
IMAGE_SIZE = SizeRule(multiple=32, fit="area")


def _spec(id: str, repo: str, description: str, params: tuple[Param, ...], **options: object) -> ModelSpec:
    return ModelSpec(
        id=id, capabilities=frozenset({T2V, I2V}), params=params, description=description, weights=repo,
        options={"size_rule": IMAGE_SIZE, **options},
    )


#: ``options``:
#:   pipeline  "t2v+i2v": LTXPipeline, or LTXImageToVideoPipeline over the same components when
#:             image_start is given (0.9.0, 0.9.1); "condition": LTXConditionPipeline for both
#:             (0.9.5+: diffusers runs them with it; its VAE and conditioning differ)
#:   layout    the key of LAYOUTS the weights must have
#:   detect    a --model-path folder of another layout runs as the id of that layout
#:   size_rule IMAGE_SIZE: how a request with a start image is sized (wgp_diffusers.sizing)
LTX_MODELS: tuple[ModelSpec, ...] = (
    _spec(
        "ltx-video",
        "Lightricks/LTX-Video",
        "LTX-Video 0.9.0 2B text- or image-to-video, 704x480 at 25 fps; with --model-path, the folder's version",
        # 704x480, 161 frames, 50 steps: the model card's and diffusers docs' example; guidance 3.0 and
        # frame_rate 25: LTXPipeline's defaults, and the original inference.py's (--frame_rate 25,
        # guidance_scale 3).  0.9.0's VAE is not timestep-aware: no decode timestep.
        _params(width=704, height=480, frames=161, fps=25, steps=50, guidance=3.0,
                decode_timestep=0.0, decode_noise_scale=None, max_sequence_length=128),
        pipeline="t2v+i2v", layout="0.9.0", detect=True,
    ),
    _spec(
        "ltx-video-0.9.1",
        "Lightricks/LTX-Video-0.9.1",
        "LTX-Video 0.9.1 2B (timestep-aware VAE), 704x480 at 25 fps",
        # configs/ltxv-2b-0.9.1.yaml: 40 steps, guidance 3, decode 0.05 / 0.025; 704x480x161 as 0.9.0
        # (the diffusers 0.9.1 example); frame_rate 25 (inference.py before 0.9.6, LTXPipeline).
        _params(width=704, height=480, frames=161, fps=25, steps=40, guidance=3.0, **_DECODE, max_sequence_length=128),
        pipeline="t2v+i2v", layout="0.9.1",
    ),
    _spec(
        "ltx-video-0.9.5",
        "Lightricks/LTX-Video-0.9.5",
        "LTX-Video 0.9.5 2B (new VAE, LTXConditionPipeline), 768x512 at 25 fps",
        # configs/ltxv-2b-0.9.5.yaml: 40 steps, guidance 3, decode 0.05 / 0.025; 768x512x161: the
        # LTXConditionPipeline docs example for this repo; frame_rate 25 (its default).
        _params(width=768, height=512, frames=161, fps=25, steps=40, guidance=3.0, **_DECODE,
                max_sequence_length=_CONDITION_TOKENS),
        pipeline="condition", layout="0.9.5",
    ),
    _spec(
        "ltx-video-0.9.7-dev",
        "Lightricks/LTX-Video-0.9.7-dev",
        "LTX-Video 0.9.7 13B dev, 1216x704 at 30 fps",
        # configs/ltxv-13b-0.9.7-dev.yaml: 30 steps (first pass); its guidance is a per-timestep
        # schedule peaking at 8, so the single scale is the diffusers docs' 0.9.7-dev example's, 5.0.
        _params(**_13B, steps=30, guidance=5.0, **_DECODE, max_sequence_length=_CONDITION_TOKENS),
        pipeline="condition", layout="13b",
    ),
    _spec(
        "ltx-video-0.9.7-distilled",
        "Lightricks/LTX-Video-0.9.7-distilled",
        "LTX-Video 0.9.7 13B distilled: guidance 1, 8 steps, 1216x704 at 30 fps",
        _params(**_13B, **_DISTILLED, **_DECODE, max_sequence_length=_CONDITION_TOKENS),
        pipeline="condition", layout="13b",
    ),
    _spec(
        "ltx-video-0.9.8-distilled",
        "Lightricks/LTX-Video-0.9.8-13B-distilled",
        "LTX-Video 0.9.8 13B distilled: guidance 1, 8 steps, 1216x704 at 30 fps",
        _params(**_13B, **_DISTILLED, **_DECODE, max_sequence_length=_CONDITION_TOKENS),
        pipeline="condition", layout="13b",
    ),
)

LTX_SPECS = {spec.id: spec for spec in LTX_MODELS}
LTX_MODEL_IDS = tuple(LTX_SPECS)
