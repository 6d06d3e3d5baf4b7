"""The Wan model ids, their weights and their parameters.

Defaults follow the official code: Wan 2.1's ``generate.py`` (steps, flow shift, guidance,
frames) and ``wan/configs/shared_config.py`` (fps, negative prompt), Wan 2.2's
``wan/configs/wan_*.py``; where the diffusers model cards differ, the comment beside the
value says which one it is and why.  ``options`` holds what the loader and the tiny-model
builder need to know about each checkpoint's layout.  This module is data only: no torch,
no numpy.
"""

from __future__ import annotations

from typing import Any

from wgp_hookspecs import SEED_PARAM, ModelSpec, Param

from wgp_diffusers.levers import REGISTRY_CACHES, UNREGISTERED_BLOCKS, refusing
from wgp_diffusers.sizing import SizeRule

from .animate2 import ANIMATE2_SPEC

#: Image models size the video from the start image: its aspect ratio at the default's area, sides
#: floored to 16 (8x VAE, 2x2 patches), as the diffusers Wan I2V / FLF2V examples do.
IMAGE_SIZE = SizeRule(multiple=16, fit="area")
#: TI2V 5B: Wan 2.2's best_output_size at multiples of 32 (16x VAE, 2x2 patches), centre-cropped
#: (wan/textimage2video.py).
TI2V_SIZE = SizeRule(multiple=32, fit="best")

T2V = "text-to-video"
I2V = "image-to-video"
FLF2V = "first-last-frame-to-video"

#: The negative prompt the official Wan 2.1 and 2.2 code samples with when none is given
#: (``sample_neg_prompt`` in ``wan/configs/shared_config.py`` of both repositories; the code
#: never samples with an empty one).  ``--negative-prompt ""`` still means an empty one.
NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，"
    "丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，"
    "杂乱的背景，三条腿，背景人很多，倒着走"
)


def _params(
    *,
    width: int,
    height: int,
    frames: int = 81,  # generate.py: frame_num 81 for every video task
    steps: int = 50,  # generate.py: 50 (image-to-video tasks pass 40)
    guidance: float = 5.0,  # generate.py: --sample_guide_scale 5.0
    guidance_2: float | None = None,
    flow_shift: float,
    fps: int = 16,  # shared_config.py: sample_fps 16
    size_multiple: int = 16,
    image_start: str | None = None,
    image_end: bool = False,
) -> tuple[Param, ...]:
    """The parameter schema of one model; ``image_start`` is ``"required"``, ``"optional"`` or None."""
    params = [
        Param("prompt", "str", required=True, help="what the video shows"),
        Param("negative_prompt", "str", default=NEGATIVE_PROMPT,
              help="what to steer away from (default: the official Wan negative prompt; \"\" for none)"),
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


VIDEO_IN = "video-in"
MASK_IN = "mask-in"

#: What VACE takes besides a text-to-video model's parameters (WanVACEPipeline's video, mask,
#: reference_images and conditioning_scale).
VACE_MEDIA = (
    Param("control_video", "video", flag="--control-video",
          help="video whose frames guide the generated ones (pose, depth, edges, or a video to edit under "
               "--mask-video); its first --frames frames are used, fitted to the size"),
    Param("mask_video", "mask", flag="--mask-video",
          help="image or video (needs --control-video): white where the control video is generated anew, "
               "black where it is kept"),
    Param("reference_images", "image", multiple=True, flag="--reference-image",
          help="picture of a subject or background the video shows (repeatable)"),
    # Wan2.1 vace.py generate(): context_scale=1.0; the diffusers call's conditioning_scale=1.0.
    Param("conditioning_scale", "float", default=1.0, minimum=0.0,
          help="how strongly the control video and reference images steer (VACE context scale)"),
)

#: WanAnimateTransformer3DModel's blocks are its own WanTransformerBlock class, which diffusers 0.42's
#: block registry lacks (the Wan 2.1/2.2 one is there): the caches that need it fail at load.
#: No ``fast`` profile either: TaylorSeer, the fallback, hooks no layer at its defaults here
#: (its identifiers such as ``^blocks.*attn`` must match whole names, and Wan's are ``attn1``, ``attn2``).
ANIMATE_REFUSED_CACHES = refusing(REGISTRY_CACHES, UNREGISTERED_BLOCKS)

#: Wan 2.2's wan/configs/wan_animate_14B.py: shift 5.0, 20 steps, guide 1.0 (no CFG), clips of
#: 77 frames, 30 fps, the default prompt below; generate.py: --refert_num 1 (frames of the
#: previous clip that condition the next).  The size is the preprocessing's default
#: resolution_area 1280x720, the diffusers WanAnimatePipeline's default too.
ANIMATE_PROMPT = "视频中的人在做动作"
ANIMATE_PARAMS = (
    Param("prompt", "str", default=ANIMATE_PROMPT, help="what the video shows (default: the official Animate prompt)"),
    Param("negative_prompt", "str", default=NEGATIVE_PROMPT,
          help="what to steer away from (used only with --guidance above 1)"),
    SEED_PARAM,
    Param("width", "int", default=1280, minimum=16, multiple_of=16, help="frame width in pixels"),
    Param("height", "int", default=720, minimum=16, multiple_of=16, help="frame height in pixels"),
    Param("frames", "int", minimum=2, help="frames to make (default: as many as the pose video has)"),
    Param("segment_frames", "int", default=77, minimum=5, multiple_of=4, remainder=1,
          help="frames made per denoising pass (4n+1); longer videos are made segment after segment"),
    Param("segment_overlap", "int", default=1, choices=(1, 5),
          help="last frames of a segment that condition the next one"),
    Param("steps", "int", default=20, minimum=1, maximum=1000, help="denoising steps (per segment)"),
    Param("guidance", "float", default=1.0, minimum=0.0, help="classifier-free guidance scale (1: off)"),
    Param("flow_shift", "float", default=5.0, minimum=0.0, help="scheduler flow shift"),
    Param("fps", "int", default=30, minimum=1, maximum=240, help="frames per second of the output video"),
    Param("image_start", "image", required=True, help="the character to animate"),
    Param("pose_video", "video", required=True, flag="--pose-video",
          help="skeleton video of the motion, one frame per output frame (Wan Animate preprocessing's src_pose)"),
    Param("face_video", "video", required=True, flag="--face-video",
          help="face crops of the driving video, one per pose frame (Wan Animate preprocessing's src_face)"),
    Param("background_video", "video", flag="--background-video",
          help="replacement: the video whose person the character replaces (src_bg); needs --mask-video"),
    Param("mask_video", "mask", flag="--mask-video",
          help="replacement: image or video, white where the character goes (src_mask); needs --background-video"),
)


#: Every Wan model wgp knows.  ``options``:
#:   pipeline      "t2v", "i2v" or "ti2v" (text, image, or either on one checkpoint); "vace"
#:                 (WanVACEPipeline) or "animate" (WanAnimatePipeline)
#:   image_encoder the checkpoint has a CLIP image encoder (Wan 2.1 image models)
#:   last_image    first-last-frame conditioning (image_end)
#:   boundary_ratio  two experts: transformer for t >= ratio * 1000, transformer_2 below
#:   vae           "2.1" (z_dim 16, 8x) or "2.2" (z_dim 48, residual, 16x)
#:   size_rule     how an image request is sized from its start image (wgp_diffusers.sizing)
#:   refused_caches  the step caches it cannot take (wgp_diffusers.levers.check_cache)
#:   fast_cache    the cache of its ``fast`` profile, None for none (default: wgp_diffusers.fast_profiles' choice)
WAN_MODELS: tuple[ModelSpec, ...] = (
    _spec(
        "wan2.1-t2v-1.3b",
        "Wan-AI/Wan2.1-T2V-1.3B-Diffusers",
        {T2V},
        "Wan 2.1 text-to-video, 1.3B, 480p; runs in about 8 GB of VRAM",
        # Shift 3.0: the diffusers model card ("3.0 for 480P"); generate.py would use 5.0 for every
        # text-to-video size, but the card's 480p value is what the diffusers checkpoint ships with.
        _params(width=832, height=480, flow_shift=3.0),
        pipeline="t2v", vae="2.1",
    ),
    _spec(
        "wan2.1-t2v-14b",
        "Wan-AI/Wan2.1-T2V-14B-Diffusers",
        {T2V},
        "Wan 2.1 text-to-video, 14B, 720p (480p also works)",
        _params(width=1280, height=720, flow_shift=5.0),  # generate.py: shift 5.0 for text-to-video
        pipeline="t2v", vae="2.1",
    ),
    _spec(
        "wan2.1-i2v-14b-480p",
        "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers",
        {I2V},
        "Wan 2.1 image-to-video, 14B, 480p",
        # generate.py: 40 steps for image-to-video; shift 3.0 at 832*480.
        _params(width=832, height=480, steps=40, flow_shift=3.0, image_start="required"),
        pipeline="i2v", vae="2.1", image_encoder=True, size_rule=IMAGE_SIZE,
    ),
    _spec(
        "wan2.1-i2v-14b-720p",
        "Wan-AI/Wan2.1-I2V-14B-720P-Diffusers",
        {I2V},
        "Wan 2.1 image-to-video, 14B, 720p",
        # generate.py: 40 steps for image-to-video; shift 5.0 above 480p.
        _params(width=1280, height=720, steps=40, flow_shift=5.0, image_start="required"),
        pipeline="i2v", vae="2.1", image_encoder=True, size_rule=IMAGE_SIZE,
    ),
    _spec(
        "wan2.1-flf2v-14b",
        "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers",
        {FLF2V},
        "Wan 2.1 first-last-frame-to-video, 14B, 720p",
        # generate.py: shift 16 for first-last-frame; 50 steps (its 40 is for "i2v" tasks only).
        _params(width=1280, height=720, flow_shift=16.0, image_start="required", image_end=True),
        pipeline="i2v", vae="2.1", image_encoder=True, last_image=True, size_rule=IMAGE_SIZE,
    ),
    _spec(
        "wan2.2-t2v-a14b",
        "Wan-AI/Wan2.2-T2V-A14B-Diffusers",
        {T2V},
        "Wan 2.2 text-to-video, two 14B experts (high noise, low noise), 720p",
        # wan_t2v_A14B.py: 40 steps, shift 12, boundary 0.875, guidance (3.0 low, 4.0 high noise).
        _params(width=1280, height=720, steps=40, guidance=4.0, guidance_2=3.0, flow_shift=12.0),
        pipeline="t2v", vae="2.1", boundary_ratio=0.875,
    ),
    _spec(
        "wan2.2-i2v-a14b",
        "Wan-AI/Wan2.2-I2V-A14B-Diffusers",
        {I2V},
        "Wan 2.2 image-to-video, two 14B experts (high noise, low noise), 720p",
        # wan_i2v_A14B.py: 40 steps, shift 5, boundary 0.900, guidance (3.5, 3.5).
        _params(width=1280, height=720, steps=40, guidance=3.5, guidance_2=3.5, flow_shift=5.0, image_start="required"),
        pipeline="i2v", vae="2.1", boundary_ratio=0.9, size_rule=IMAGE_SIZE,
    ),
    _spec(
        "wan2.2-ti2v-5b",
        "Wan-AI/Wan2.2-TI2V-5B-Diffusers",
        {T2V, I2V},
        "Wan 2.2 text- or image-to-video, 5B, 720p at 24 fps (1280x704); image_start makes it image-to-video",
        # wan_ti2v_5B.py: 121 frames at 24 fps, 50 steps, shift 5, guidance 5; size 1280*704.
        # The 16x VAE and 2x2 patches make sizes multiples of 32.
        _params(width=1280, height=704, frames=121, flow_shift=5.0, fps=24, size_multiple=32, image_start="optional"),
        pipeline="ti2v", vae="2.2", size_rule=TI2V_SIZE,
    ),
    _spec(
        "wan2.1-vace-1.3b",
        "Wan-AI/Wan2.1-VACE-1.3B-diffusers",  # the diffusers WanVACEPipeline docs name this repo
        {T2V, VIDEO_IN, MASK_IN},
        "Wan 2.1 VACE, 1.3B, 480p: text-to-video guided by a control video, a mask and reference images",
        # generate.py: 50 steps, guide 5.0, 81 frames; shift 16 for vace tasks; SUPPORTED_SIZES
        # allows vace-1.3B only 832*480 (or 480*832).  The diffusers example uses 30 steps, shift 3.
        _params(width=832, height=480, flow_shift=16.0) + VACE_MEDIA,
        pipeline="vace", vae="2.1",
    ),
    _spec(
        "wan2.1-vace-14b",
        "Wan-AI/Wan2.1-VACE-14B-diffusers",
        {T2V, VIDEO_IN, MASK_IN},
        "Wan 2.1 VACE, 14B, 720p (480p also works): text-to-video guided by a control video, a mask and reference images",
        # generate.py: as vace-1.3B; the default --size 1280*720 is one of vace-14B's SUPPORTED_SIZES.
        _params(width=1280, height=720, flow_shift=16.0) + VACE_MEDIA,
        pipeline="vace", vae="2.1",
    ),
    _spec(
        "wan2.2-animate-14b",
        "Wan-AI/Wan2.2-Animate-14B-Diffusers",  # the diffusers WanAnimatePipeline example names this repo
        {I2V, VIDEO_IN, MASK_IN},
        "Wan 2.2 Animate, 14B, 720p at 30 fps: a character image moved by pose and face videos, "
        "or put in place of the person of a background video",
        ANIMATE_PARAMS,
        pipeline="animate", vae="2.1", image_encoder=True, refused_caches=ANIMATE_REFUSED_CACHES, fast_cache=None,
    ),
    ANIMATE2_SPEC,  # Wan 2.2 Animate 2 on the Modular base: wgp_wan.animate2
)

WAN_MODEL_IDS = tuple(spec.id for spec in WAN_MODELS)


def get_spec(model_id: str) -> ModelSpec:
    """The spec of ``model_id``; KeyError names the known ids."""
    for spec in WAN_MODELS:
        if spec.id == model_id:
            return spec
    raise KeyError(f"unknown Wan model {model_id!r}; known: {', '.join(WAN_MODEL_IDS)}")
