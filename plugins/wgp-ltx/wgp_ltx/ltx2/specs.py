"""The LTX-2 model ids, weights, parameters: data only, no torch.

LTX-2 generates a video and its sound together (a 19B/22B audio-video transformer, a
Gemma 3 text encoder, video and audio VAEs and a vocoder).  Each default's source is
beside it: Lightricks' own ``ltx-pipelines`` (github.com/Lightricks/LTX-2,
``packages/ltx-pipelines/src/ltx_pipelines/utils/constants.py``: the defaults of its
release for LTX-2, ``LTX_2_3_PARAMS`` for LTX-2.3), the diffusers LTX-2 docs
(``docs/source/en/api/pipelines/ltx2.md``) and the pipelines' own defaults.  Every id
runs one stage at the requested size; the recipe's optional second stage (2x latent
upsampler and distilled LoRA) is not used.  Frames are 8n+1 and sizes multiples of 32
(the video VAE compresses 8x in time, 32x in space), at least 64 (its decoder pads
each latent frame by reflection, which needs two latent pixels).
"""

from __future__ import annotations

from wgp_hookspecs import SEED_PARAM, ModelSpec, Param

from wgp_diffusers.sizing import SizeRule

T2V = "text-to-video"
I2V = "image-to-video"
FLF2V = "first-last-frame-to-video"
VIDEO_IN = "video-in"
#: The video comes with its sound (``GenerationResult.audio``).
AUDIO_OUT = "audio-out"

#: ``ltx_pipelines.utils.constants.DISTILLED_SIGMA_VALUES`` (also
#: ``diffusers.pipelines.ltx2.utils.DISTILLED_SIGMA_VALUES``): the distilled checkpoints'
#: eight-step schedule, used as it is (no shift).
DISTILLED_SIGMAS = (1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875)

#: Each version's configs differ where ``ltx2_version`` reads them (:func:`wgp_ltx.ltx2.plugin.match_weights`):
#: LTX-2.3's text connectors project per modality (``connectors/config.json`` ``per_modality_projections``).
VERSIONS = {"2.0": "LTX-2 (19B)", "2.3": "LTX-2.3 (22B)"}


def _params(*, steps: int, guidance: float, audio_guidance: float, stg: float, audio_stg: float, modality: float,
            rescale: float) -> tuple[Param, ...]:
    return (
        Param("prompt", "str", required=True, help="what the video shows and sounds like (long, detailed prompts work best)"),
        Param("negative_prompt", "str",
              help="what to steer away from (unset: diffusers' LTX-2 DEFAULT_NEGATIVE_PROMPT; unused at guidance 1)"),
        SEED_PARAM,
        # 768x512, 121 frames at 24 fps: ltx-pipelines' DEFAULT_1_STAGE_WIDTH/HEIGHT, DEFAULT_NUM_FRAMES and
        # DEFAULT_FRAME_RATE, and every diffusers LTX-2 docs example (width=768, height=512, num_frames=121, 24.0).
        Param("width", "int", default=768, minimum=64, multiple_of=32, help="frame width in pixels"),
        Param("height", "int", default=512, minimum=64, multiple_of=32, help="frame height in pixels"),
        Param("frames", "int", default=121, minimum=1, multiple_of=8, remainder=1, help="number of frames (8n+1)"),
        Param("fps", "int", default=24, minimum=1, maximum=240,
              help="frames per second: of the output and of the model's frame_rate (the sound's length follows it)"),
        Param("steps", "int", default=steps, minimum=1, maximum=1000, help="denoising steps"),
        Param("guidance", "float", default=guidance, minimum=0.0, help="video classifier-free guidance (1 turns it off)"),
        Param("audio_guidance", "float", default=audio_guidance, minimum=0.0,
              help="audio classifier-free guidance (1 turns it off)"),
        Param("stg_scale", "float", default=stg, minimum=0.0, help="video spatio-temporal guidance (0 turns it off)"),
        Param("audio_stg_scale", "float", default=audio_stg, minimum=0.0, help="audio spatio-temporal guidance (0 turns it off)"),
        Param("modality_scale", "float", default=modality, minimum=0.0,
              help="video modality-isolation guidance, audio-to-video sync (1 turns it off)"),
        Param("audio_modality_scale", "float", default=modality, minimum=0.0,
              help="audio modality-isolation guidance, video-to-audio sync (1 turns it off)"),
        Param("guidance_rescale", "float", default=rescale, minimum=0.0, maximum=1.0,
              help="video guidance rescale against over-exposure (0 turns it off)"),
        Param("audio_guidance_rescale", "float", default=rescale, minimum=0.0, maximum=1.0,
              help="audio guidance rescale (0 turns it off)"),
        # LTX2Pipeline's max_sequence_length default (1024): the Gemma prompt length the pipelines pad to.
        Param("max_sequence_length", "int", default=1024, minimum=1, maximum=4096,
              help="Gemma prompt tokens (a longer prompt is cut, with a warning)"),
        Param("image_start", "image", help="first frame: makes it image-to-video (--image-start)"),
        Param("image_end", "image", help="last frame (--image-end): conditions the video's end (LTX2ConditionPipeline)"),
        Param("condition_video", "video", flag="--condition-video",
              help="a video whose frames the output continues from condition_index on (LTX2ConditionPipeline)"),
        Param("condition_index", "int", default=0, minimum=0,
              help="latent frame (8 video frames each) where --condition-video starts"),
        Param("condition_strength", "float", default=1.0, minimum=0.0, maximum=1.0,
              help="how strongly --condition-video holds (1: its frames are kept)"),
    )


# LTX-2 as released (ltx-pipelines constants.py at LTX-2's release: DEFAULT_NUM_INFERENCE_STEPS 40,
# DEFAULT_CFG_GUIDANCE_SCALE 4.0, one guidance scale for video and sound; the first diffusers LTX-2
# docs example: num_inference_steps=40, guidance_scale=4.0).  No STG, no modality guidance, no rescale:
# its release had CFG only.
_LTX2 = _params(steps=40, guidance=4.0, audio_guidance=4.0, stg=0.0, audio_stg=0.0, modality=1.0, rescale=0.0)
# LTX-2.3: ltx-pipelines LTX_2_3_PARAMS (30 steps; video cfg 3.0, stg 1.0, rescale 0.7, modality 3.0; audio
# cfg 7.0, stg 1.0, rescale 0.7, modality 3.0; STG at block 28), the diffusers docs' "Recommended LTX-2.3
# guidance parameters" example, and LTX2Pipeline's own defaults in diffusers 0.42.
_LTX23 = _params(steps=30, guidance=3.0, audio_guidance=7.0, stg=1.0, audio_stg=1.0, modality=3.0, rescale=0.7)
# LTX-2.3 distilled: 8 steps on DISTILLED_SIGMAS with guidance 1 (the diffusers docs' distilled examples:
# num_inference_steps=8, sigmas=DISTILLED_SIGMA_VALUES, guidance_scale=1.0; the model card: "8 steps with
# CFG = 1"); ltx-pipelines' distilled pipeline runs no guider at all, so STG, modality guidance and
# rescale are off too.
_DISTILLED = _params(steps=8, guidance=1.0, audio_guidance=1.0, stg=0.0, audio_stg=0.0, modality=1.0, rescale=0.0)

#: With a start image and no size, the video takes the image's aspect ratio at the default's area,
#: sides floored to 32; the image is cropped to the output's aspect ratio, then resized.
IMAGE_SIZE = SizeRule(multiple=32, fit="area")


def _spec(id: str, repo: str, description: str, params: tuple[Param, ...], **options: object) -> ModelSpec:
    return ModelSpec(
        id=id, capabilities=frozenset({T2V, I2V, FLF2V, VIDEO_IN, AUDIO_OUT}), params=params, description=description, weights=repo,
        options={"size_rule": IMAGE_SIZE, **options},
    )


#: ``options``:
#:   version             "2.0" or "2.3" (:data:`VERSIONS`): what the weights' configs must say
#:   stg_blocks          the transformer blocks STG perturbs: [29] for LTX-2.0, [28] for LTX-2.3 (the
#:                       diffusers pipelines' docstring and LTX_2_3_PARAMS)
#:   use_cross_timestep  the other modality's sigma in cross-attention modulation: the LTX-2.3 behaviour;
#:                       False is LTX-2.0's (the diffusers pipelines' docstring)
#:   sigmas              a fixed schedule, used as it is when ``steps`` equals its length
LTX2_MODELS: tuple[ModelSpec, ...] = (
    _spec(
        "ltx-2",
        # The diffusers docs: LTX2Pipeline.from_pretrained("Lightricks/LTX-2"), the root of the official repo.
        "Lightricks/LTX-2",
        "LTX-2 19B video with sound, text/image/conditioning to video, 768x512 at 24 fps",
        _LTX2, version="2.0", stg_blocks=(29,), use_cross_timestep=False,
    ),
    _spec(
        "ltx-2.3",
        # The diffusers docs' LTX-2.3 example: model_path = "diffusers/LTX-2.3-Diffusers".
        "diffusers/LTX-2.3-Diffusers",
        "LTX-2.3 22B video with sound, text/image/conditioning to video, 768x512 at 24 fps",
        _LTX23, version="2.3", stg_blocks=(28,), use_cross_timestep=True,
    ),
    _spec(
        "ltx-2.3-distilled",
        # The diffusers-format conversion of LTX-2.3's distilled checkpoint, under the diffusers organisation.
        "diffusers/LTX-2.3-Distilled-Diffusers",
        "LTX-2.3 22B distilled video with sound: 8 steps, guidance 1, 768x512 at 24 fps",
        _DISTILLED, version="2.3", stg_blocks=(28,), use_cross_timestep=True, sigmas=DISTILLED_SIGMAS,
    ),
)

LTX2_SPECS = {spec.id: spec for spec in LTX2_MODELS}
