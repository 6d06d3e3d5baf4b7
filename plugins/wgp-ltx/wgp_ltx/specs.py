"""The LTX-Video model id, its weights and its parameters.

Defaults follow the model card and the diffusers docs for ``Lightricks/LTX-Video``:
704x480, 161 frames written at 24 fps, 50 steps, guidance 3.0 (the pipeline's
default; the card's example leaves it), the card's negative prompt.  Frames are
8n+1 and sizes multiples of 32 (the VAE compresses 8x in time, 32x in space).
Data only: no torch, no numpy.
"""

from __future__ import annotations

from wgp_hookspecs import SEED_PARAM, ModelSpec, Param

T2V = "text-to-video"
I2V = "image-to-video"

#: The negative prompt of the model card's examples.
NEGATIVE_PROMPT = "worst quality, inconsistent motion, blurry, jittery, distorted"

LTX_PARAMS: tuple[Param, ...] = (
    Param("prompt", "str", required=True, help="what the video shows (long, detailed prompts work best)"),
    Param("negative_prompt", "str", default=NEGATIVE_PROMPT, help="what to steer away from"),
    SEED_PARAM,
    Param("width", "int", default=704, minimum=32, multiple_of=32, help="frame width in pixels"),
    Param("height", "int", default=480, minimum=32, multiple_of=32, help="frame height in pixels"),
    Param("frames", "int", default=161, minimum=1, multiple_of=8, remainder=1, help="number of frames (8n+1)"),
    Param("steps", "int", default=50, minimum=1, maximum=1000, help="denoising steps"),
    Param("guidance", "float", default=3.0, minimum=0.0, help="classifier-free guidance scale (1 turns it off)"),
    Param("fps", "int", default=24, minimum=1, maximum=240, help="frames per second: of the output and of the model's frame_rate"),
    Param(
        "decode_timestep", "float", default=0.0, minimum=0.0, maximum=1.0,
        help="timestep the VAE decodes at (timestep-aware VAEs, LTX-Video 0.9.1+; 0.05 is usual there)",
    ),
    Param(
        "decode_noise_scale", "float", minimum=0.0, maximum=1.0,
        help="noise mixed into the latents before decoding; defaults to decode_timestep",
    ),
    Param("max_sequence_length", "int", default=128, minimum=1, maximum=512, help="T5 prompt tokens"),
    Param("image_start", "image", help="first frame: makes it image-to-video (--image-start)"),
)

#: ``options``: pipeline "t2v+i2v": LTXPipeline, or LTXImageToVideoPipeline over the
#: same components when image_start is given.
LTX_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="ltx-video",
        capabilities=frozenset({T2V, I2V}),
        params=LTX_PARAMS,
        description="LTX-Video 2B text- or image-to-video, 704x480 at 24 fps; image_start makes it image-to-video",
        weights="Lightricks/LTX-Video",
        options={"pipeline": "t2v+i2v"},
    ),
)

LTX_MODEL_IDS = tuple(spec.id for spec in LTX_MODELS)
