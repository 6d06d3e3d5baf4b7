"""The model ids of this plugin, their weights and parameters.  Data only: no torch, no numpy.

MiniMax-H3 generates a video and its stereo soundtrack together, from one diffusers-format
repository, ``MiniMaxAI/MiniMax-H3``, which holds two transformer partitions: ``transformer/``
(text-to-video-with-audio, ``t2va``, and first/last-frame, ``fl2va``) and ``transformer_ref/``
(reference-to-video-with-audio, ``ref2va``).  wgp gives each partition its own id, so a model
loads one 61.7 GB transformer, not both.

Defaults and their sources:

* steps 25: the MiniMax-H3 model card's recommended settings ("Steps 25", with guidance
  distilled into the weights, hence no ``guidance`` and no ``negative_prompt`` here); in
  diffusers' MiniMax-H3 scheduler ``num_inference_steps`` counts sigma grid points, so N steps
  run N - 1 transformer passes (``MiniMaxH3Scheduler.set_timesteps``);
* 1344x768: the canvas diffusers' blocks resolve for a text-only request (16:9 at
  ``canvas_short_edge`` 768, area capped at ``canvas_max_pixels`` 768 * 1344, both sides
  rounded to ``canvas_multiple`` 32; ``resolve_canvas_size`` in
  ``diffusers/modular_pipelines/minimax_h3/modular_pipeline.py``);
* 124 frames at 24 fps: the blocks' ``num_frames`` default, and MiniMax-H3's fixed frame rate
  (``MINIMAX_H3_FPS``); frames are ``17 n + 5`` (the video VAE's chunks) and 5 to 15 seconds
  (``min_duration`` / ``max_duration``), so 124 to 345;
* audio: 32 kHz stereo (the audio VAE's ``sampling_rate``, ``MINIMAX_H3_AUDIO_CHANNELS``).
"""

from __future__ import annotations

from wgp_hookspecs import SEED_PARAM, ModelSpec, Param

from wgp_diffusers.sizing import SizeRule

#: The public diffusers-format repository (huggingface.co/MiniMaxAI/MiniMax-H3).
REPO = "MiniMaxAI/MiniMax-H3"
#: Both sides are multiples of 32 (16x VAE, 2x2 patches: the pipeline's ``canvas_multiple``).
MULTIPLE = 32
#: Frames are 17 n + 5 between 5 s and 15 s at 24 fps.
FPS = 24
MIN_FRAMES, MAX_FRAMES = 124, 345
#: The widest and tallest aspect ratios the released checkpoint was trained on (1:4 to 4:1).
MAX_ASPECT = 4.0
#: At most this many reference images (``MiniMaxH3Ref2VASetupStep``).
MAX_REFERENCE_IMAGES = 9
#: A keyframe request's size follows the first frame at the default area; MiniMax-H3's own rule
#: (short edge 768, area capped, nearest multiple of 32) differs from it by at most one multiple.
KEYFRAME_SIZE = SizeRule(multiple=MULTIPLE, fit="area")


def _params(*extra: Param) -> tuple[Param, ...]:
    return (
        Param("prompt", "str", required=True, help="what the video shows and sounds like"),
        SEED_PARAM,
        Param("width", "int", default=1344, minimum=MULTIPLE, maximum=4096, multiple_of=MULTIPLE, help="video width in pixels"),
        Param("height", "int", default=768, minimum=MULTIPLE, maximum=4096, multiple_of=MULTIPLE, help="video height in pixels"),
        Param("frames", "int", default=124, minimum=MIN_FRAMES, maximum=MAX_FRAMES, multiple_of=17, remainder=5,
              help="frames at 24 fps: 17n+5, 124 (5.2 s) to 345 (14.4 s)"),
        Param("fps", "int", default=FPS, choices=(FPS,), help="frame rate (MiniMax-H3 generates at 24 fps only)"),
        Param("steps", "int", default=25, minimum=2, maximum=200, help="denoising steps (sigma grid points: N-1 passes)"),
        *extra,
    )


MINIMAX_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="minimax-h3",
        capabilities=frozenset({"text-to-video", "image-to-video", "first-last-frame-to-video", "audio-out"}),
        params=_params(
            Param("image_start", "image", help="the first frame (--image-start)"),
            Param("image_end", "image", help="the last frame (--image-end); alone, the video ends on it"),
        ),
        description="MiniMax-H3 video with stereo audio from a prompt, or from a first and/or last frame (t2va, fl2va)",
        weights=REPO,
        options={"workflows": ("t2va", "fl2va"), "denoiser": "transformer", "size_rule": KEYFRAME_SIZE,
                 "guidance_distilled": True},
    ),
    ModelSpec(
        id="minimax-h3-ref",
        # No "reference-to-video" capability exists yet (wgp_hookspecs.CAPABILITIES): its video follows
        # the prompt, showing the references.
        capabilities=frozenset({"text-to-video", "audio-out"}),
        params=_params(
            Param("reference_images", "image", required=True, multiple=True, flag="--reference-image",
                  minimum=1, maximum=MAX_REFERENCE_IMAGES,
                  help="an image the video should show; repeat for up to 9, named <Picture 1>, <Picture 2>, ... "
                       "in the prompt, in the order given"),
        ),
        description="MiniMax-H3 video with stereo audio from reference images and a prompt (ref2va)",
        weights=REPO,
        options={"workflows": "ref2va", "denoiser": "transformer_ref", "guidance_distilled": True},
    ),
)

MINIMAX_SPECS = {spec.id: spec for spec in MINIMAX_MODELS}
MINIMAX_MODEL_IDS = tuple(MINIMAX_SPECS)
