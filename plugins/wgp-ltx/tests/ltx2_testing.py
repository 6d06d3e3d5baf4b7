"""Helpers shared by the LTX-2 tests: small requests, and the direct diffusers calls they must equal."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
from diffusers import FlowMatchEulerDiscreteScheduler, LTX2ConditionPipeline, LTX2ImageToVideoPipeline, LTX2Pipeline
from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
from diffusers.pipelines.ltx2.utils import DEFAULT_NEGATIVE_PROMPT, DISTILLED_SIGMA_VALUES
from diffusers.utils import load_image
from wgp_diffusers.sizing import prepare_image
from wgp_diffusers.testing import generator, load_tiny, small_params, stack_frames
from wgp_diffusers.video_frames import read_frames
from wgp_ltx.ltx2.specs import LTX2_SPECS
from wgp_ltx.plugin import LTX2_FAMILY

#: The smallest request the real rules allow: 9 frames (8n+1) at 64x64 (multiples of 32, and two latent
#: pixels for the video decoder's reflection padding); 2 steps, 64 prompt tokens.
SMALL = {"width": 64, "height": 64, "frames": 9, "steps": 2, "seed": 7, "prompt": "a red fox barks in the snow",
         "max_sequence_length": 64}


def request_params(model_id: str, **changes: Any) -> dict:
    return small_params(LTX2_SPECS[model_id], SMALL, **changes)


def load(model_id: str, folder: str, **plan: Any):
    return load_tiny(LTX2_FAMILY, LTX2_SPECS[model_id], folder, **plan)


def write_video(path: str, seed: int, frames: int = 9, size: int = 64) -> str:
    """A small random H.264 MP4 (a conditioning video)."""
    import av

    pixels = (np.random.RandomState(seed).rand(frames, size, size, 3) * 255).astype("uint8")
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(24))
        stream.width, stream.height, stream.pix_fmt = size, size, "yuv420p"
        for index, frame in enumerate(pixels):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = index
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    return path


def direct(folder: str, model_id: str, *, image: str | None = None, image_end: str | None = None,
           video: str | None = None, video_index: int = 0, **call: Any) -> tuple[np.ndarray, np.ndarray]:
    """What a diffusers user writes by hand from the recipe: from_pretrained, the recipe's guidance,
    a seeded generator, PIL frames; images cropped and resized to the output as wgp prepares them.
    Returns (frames uint8 [T, H, W, 3], audio float32 [samples, channels])."""
    spec = LTX2_SPECS[model_id]
    d = spec.defaults()
    kwargs: dict[str, Any] = dict(
        prompt=SMALL["prompt"], negative_prompt=DEFAULT_NEGATIVE_PROMPT, height=64, width=64, num_frames=9,
        frame_rate=24.0, num_inference_steps=2, guidance_scale=d["guidance"], audio_guidance_scale=d["audio_guidance"],
        stg_scale=d["stg_scale"], audio_stg_scale=d["audio_stg_scale"], modality_scale=d["modality_scale"],
        audio_modality_scale=d["audio_modality_scale"], guidance_rescale=d["guidance_rescale"],
        audio_guidance_rescale=d["audio_guidance_rescale"], max_sequence_length=64,
        spatio_temporal_guidance_blocks=[29] if model_id == "ltx-2" else [28], use_cross_timestep=model_id != "ltx-2",
    )
    kwargs.update(call)
    if image_end or video:
        pipe = LTX2ConditionPipeline.from_pretrained(folder)
        conditions = []
        if image:
            conditions.append(LTX2VideoCondition(frames=prepare_image(load_image(image), 64, 64), index=0))
        if video:
            conditions.append(LTX2VideoCondition(frames=read_frames(video), index=video_index))
        if image_end:
            conditions.append(LTX2VideoCondition(frames=prepare_image(load_image(image_end), 64, 64), index=-1))
        kwargs["conditions"] = conditions
    elif image:
        pipe = LTX2ImageToVideoPipeline.from_pretrained(folder)
        kwargs["image"] = prepare_image(load_image(image), 64, 64)
    else:
        pipe = LTX2Pipeline.from_pretrained(folder)
    if model_id == "ltx-2.3-distilled":  # the published sigmas, as they are (the diffusers docs' distilled setup)
        pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(
            pipe.scheduler.config, use_dynamic_shifting=False, shift_terminal=None)
        kwargs.update(sigmas=DISTILLED_SIGMA_VALUES, num_inference_steps=8)
    out = pipe(**kwargs, generator=generator(SMALL["seed"]), output_type="pil")
    return stack_frames(out.frames[0]), out.audio[0].float().numpy().T
