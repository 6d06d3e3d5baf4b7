"""The LTX-2.5 model id, weights, parameters: data only, no torch.

LTX-2.5 runs in diffusers as a Modular pipeline (``LTX25ModularPipeline``, blocks
``LTX25AutoBlocks``): LTX-2's audio-video transformer with a diffusion video decoder.
Defaults and their sources are beside them: the LTX-2.5 blocks of diffusers 0.42 (their
``height``/``width`` defaults and their ``guider``/``audio_guider`` component defaults), the
diffusers LTX-2 docs ("the shared ``__call__`` defaults match the LTX-2.5 reference
(``num_inference_steps=30``)") and Lightricks' ``ltx-pipelines`` constants (24 fps, 121
frames).  Frames 8n+1, sizes multiples of 32 and at least 64, as for LTX-2.
"""

from __future__ import annotations

from wgp_hookspecs import SEED_PARAM, ModelSpec, Param

from ..ltx2.specs import AUDIO_OUT, I2V, IMAGE_SIZE, T2V

_PARAMS: tuple[Param, ...] = (
    Param("prompt", "str", required=True, help="what the video shows and sounds like (long, detailed prompts work best)"),
    Param("negative_prompt", "str",
          help="what to steer away from (unset: diffusers' LTX-2 DEFAULT_NEGATIVE_PROMPT; unused at guidance 1)"),
    SEED_PARAM,
    # LTX25AutoBlocks' own defaults: height 512, width 704.
    Param("width", "int", default=704, minimum=64, multiple_of=32, help="frame width in pixels"),
    Param("height", "int", default=512, minimum=64, multiple_of=32, help="frame height in pixels"),
    # 121 frames at 24 fps: the blocks' fallback without a duration head, and ltx-pipelines' defaults.
    Param("frames", "int", default=121, minimum=1, multiple_of=8, remainder=1, help="number of frames (8n+1)"),
    Param("fps", "int", default=24, minimum=1, maximum=240, help="frames per second: of the output and of the model's frame_rate"),
    # The diffusers docs: the LTX-2.5 reference runs num_inference_steps=30.
    Param("steps", "int", default=30, minimum=1, maximum=1000, help="denoising steps"),
    # The blocks' guider defaults: guidance 3.0, STG 1.0 (block 28), modality 3.0, rescale 0.7; audio_guider:
    # guidance 7.0, STG 1.0, modality 3.0, rescale 0.7.
    Param("guidance", "float", default=3.0, minimum=0.0, help="video classifier-free guidance (1 turns it off)"),
    Param("audio_guidance", "float", default=7.0, minimum=0.0, help="audio classifier-free guidance (1 turns it off)"),
    Param("stg_scale", "float", default=1.0, minimum=0.0, help="video spatio-temporal guidance (0 turns it off)"),
    Param("audio_stg_scale", "float", default=1.0, minimum=0.0, help="audio spatio-temporal guidance (0 turns it off)"),
    Param("modality_scale", "float", default=3.0, minimum=0.0, help="video modality-isolation guidance (1 turns it off)"),
    Param("audio_modality_scale", "float", default=3.0, minimum=0.0, help="audio modality-isolation guidance (1 turns it off)"),
    Param("guidance_rescale", "float", default=0.7, minimum=0.0, maximum=1.0, help="video guidance rescale (0 turns it off)"),
    Param("audio_guidance_rescale", "float", default=0.7, minimum=0.0, maximum=1.0, help="audio guidance rescale (0 turns it off)"),
    # The blocks' max_sequence_length default.
    Param("max_sequence_length", "int", default=1024, minimum=1, maximum=4096, help="prompt tokens (a longer prompt is cut)"),
    Param("image_start", "image", help="first frame: makes it image-to-video (--image-start)"),
)

#: ``options``: ``stg_blocks`` the transformer blocks STG perturbs (the blocks' guider default, [28]).
LTX25_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="ltx-2.5",
        capabilities=frozenset({T2V, I2V, AUDIO_OUT}),
        params=_PARAMS,
        description="LTX-2.5 video with sound (Modular pipeline, diffusion video decoder), 704x512 at 24 fps",
        # Lightricks' diffusers-format repository of LTX-2.5 (gated: accept its licence on the hub first).
        weights="Lightricks/LTX-2.5-Diffusers",
        options={"size_rule": IMAGE_SIZE, "stg_blocks": (28,)},
    ),
)
