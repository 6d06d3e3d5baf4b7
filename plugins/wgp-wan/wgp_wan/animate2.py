"""Wan 2.2 Animate 2 on diffusers' Modular ``WanAnimate2ModularPipeline``: a character image moved
by a plain driving video.

Unlike Wan 2.2 Animate (:mod:`wgp_wan.animate`), Animate 2 needs no preprocessing: no pose
skeleton, no face crops, no background or mask videos.  Its transformer reads the driving video's
latents itself (a reference pass per segment whose keys and values the denoising steps attend to),
so the inputs are ``image_start`` (the character) and ``driving_video`` (``--driving-video``).
The blocks letterbox both into a frame of the character's aspect ratio whose *area* is
``width`` x ``height``, resample the driving video from its own frame rate to ``fps``, and make the
video segment after segment (``segment_frames`` each, the last ``segment_overlap`` frames of one
conditioning the next): the output has as many frames as the resampled driving video.

Steps: the timestep loop is inside one block (``WanAnimate2SegmentDenoiseInner``), not a loop
block the modular base can hook; the base's hook sees only the segment loop.  So each scheduler
step is reported through :mod:`wgp_diffusers.stepping` (``steps`` steps per segment, counted from 1
again for each, as the classic Animate family does) and the base's per-segment report only checks
for a cancel.  The blocks call ``scheduler.step(..., generator=)``: a scheduler whose ``step`` takes
no generator (diffusers' UniPC) fails inside diffusers itself, so such weights are refused at load
in one line (:func:`check_layout`).

This module is imported at registration (the spec): torch and diffusers only inside functions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

from wgp_hookspecs import (
    SEED_PARAM,
    GenerationContext,
    GenerationRequest,
    GenerationResult,
    ModelSpec,
    Param,
    UserError,
)

from wgp_diffusers import stepping
from wgp_diffusers.levers import CACHES, refusing
from wgp_diffusers.modular import ModularDiffusersModel

MODEL_ID = "wan2.2-animate-2-14b"
REPO = "Wan-AI/Wan2.2-Animate-2-14B-Diffusers"

#: Every step cache is refused: the denoise block calls the transformer twice a step (guidance) and
#: opens no cache context, and a reference pass precedes each segment's steps.
REFUSED_CACHES = refusing(tuple(CACHES), "WanAnimate2's denoise block opens no step-cache context "
                                         "(a reference pass, then two guided transformer calls per step)")

#: Defaults are those of diffusers 0.42.1's WanAnimate2Blocks (the base, not distilled, preset;
#: the diffusers PR that added it: "40 steps / CFG 3.0 for base"); the official Wan repositories
#: publish no other inference recipe for Animate 2 that we could find.
ANIMATE2_PARAMS = (
    Param("prompt", "str", required=True, help="what the video shows: the character, the background, the camera"),
    # WanAnimate2TextEncoderStep: no negative prompt means "" when guidance is on.
    Param("negative_prompt", "str", help="what to steer away from (default: none)"),
    SEED_PARAM,
    # WanAnimate2ProcessImagesInputStep: height 800, width 640, an area; the character sets the shape.
    Param("width", "int", default=640, minimum=16, multiple_of=16,
          help="frame width in pixels; with --height, the area of the frame (its shape is the character image's)"),
    Param("height", "int", default=800, minimum=16, multiple_of=16,
          help="frame height in pixels; with --width, the area of the frame (its shape is the character image's)"),
    # WanAnimate2ProcessVideosInputStep: segment_frame_length 81, prev_segment_conditioning_frames 1.
    Param("segment_frames", "int", default=81, minimum=5, multiple_of=4, remainder=1,
          help="frames made per denoising pass (4n+1); longer videos are made segment after segment"),
    Param("segment_overlap", "int", default=1, minimum=1,
          help="last frames of a segment that condition the next one"),
    # WanAnimate2SegmentDenoiseInner: num_inference_steps 40, ClassifierFreeGuidance(guidance_scale=3.0).
    Param("steps", "int", default=40, minimum=1, maximum=1000, help="denoising steps (per segment)"),
    Param("guidance", "float", default=3.0, minimum=1.0, help="classifier-free guidance scale (1: off)"),
    # WanAnimate2ProcessVideosInputStep: fps 24, the rate the model generates at.
    Param("fps", "int", default=24, minimum=1, maximum=240,
          help="frames per second of the output; the driving video is resampled to it"),
    Param("image_start", "image", required=True, help="the character to animate"),
    Param("driving_video", "video", required=True, flag="--driving-video",
          help="video of someone moving: the character follows its motion (no pose or face preprocessing)"),
)

ANIMATE2_SPEC = ModelSpec(
    id=MODEL_ID,
    capabilities=frozenset({"image-to-video", "video-in"}),
    params=ANIMATE2_PARAMS,
    description="Wan 2.2 Animate 2, 14B, at 24 fps: a character image moved by a plain driving video "
                "(Modular pipeline; no pose or face preprocessing)",
    weights=REPO,
    options={"pipeline": "animate2", "vae": "2.1", "refused_caches": REFUSED_CACHES, "fast_cache": None, "modular": True},
)


# --------------------------------------------------------------------------- the door (torch-free)


def video_fps(path: str, flag: str = "--driving-video") -> float | None:
    """The frame rate the video at ``path`` declares (None when it declares none)."""
    import av

    try:
        with av.open(str(path)) as container:
            rate = container.streams.video[0].average_rate if container.streams.video else None
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise UserError(f"{flag}: cannot open {path} as a video ({exc})") from None
    return float(rate) if rate else None


def output_frames(count: int, source_fps: float | None, fps: int) -> int:
    """Frames the driving video gives after the blocks resample it from ``source_fps`` to ``fps``
    (``get_frame_indices`` of diffusers' Animate 2 encoders: ``int(count / source_fps * fps)``)."""
    return int(count / source_fps * fps) if source_fps else count


def check(spec: ModelSpec, params: Mapping[str, Any]) -> list[str]:
    """A driving video long enough for the segments: more frames than ``segment_overlap``, and no
    more zigzag padding (the blocks mirror the tail to fill the last segment) than it has frames."""
    from wgp_diffusers.video_frames import count_frames

    path = params["driving_video"]
    overlap, segment = int(params.get("segment_overlap") or 1), int(params.get("segment_frames") or 81)
    if segment <= overlap:
        raise UserError(f"segment_frames ({segment}) must be more than segment_overlap ({overlap})")
    have = output_frames(count_frames(path, "--driving-video"), video_fps(path), int(params.get("fps") or 24))
    step = segment - overlap
    leftover = (have - overlap) % step if have > overlap else 0
    padding = step - leftover if leftover else 0
    if have <= overlap or padding > have:
        need = max(overlap + 1, (segment + 1) // 2)
        raise UserError(f"--driving-video: {path} gives {have} frames at {params.get('fps') or 24} fps; "
                        f"segments of {segment} need at least {need} (or use a smaller --set segment_frames)")
    return []


# --------------------------------------------------------------------------- the model


def check_layout(spec: ModelSpec, pipe: Any, location: str) -> None:
    """Refuse weights that are not Animate 2, or whose scheduler the blocks cannot step."""
    import inspect

    name = type(getattr(pipe, "transformer", None)).__name__
    if name != "WanAnimate2Transformer3DModel":
        raise UserError(f"weights at {location} do not match {spec.id}: its transformer is {name}, "
                        "not WanAnimate2Transformer3DModel (a Wan 2.2 Animate 2 checkpoint)")
    scheduler = getattr(pipe, "scheduler", None)
    if scheduler is None or "generator" not in inspect.signature(scheduler.step).parameters:
        raise UserError(f"weights at {location}: their scheduler {type(scheduler).__name__} cannot run "
                        "diffusers' WanAnimate2 blocks, which call scheduler.step(..., generator=); "
                        "use weights whose scheduler takes one (FlowMatchEulerDiscreteScheduler)")


def load_inputs(params: Mapping[str, Any]) -> dict[str, Any]:
    """The character (``diffusers.utils.load_image``: the blocks letterbox it themselves), every
    frame of the driving video at its own size, and the video's frame rate (the blocks resample)."""
    from diffusers.utils import load_image

    from wgp_diffusers.video_frames import read_frames

    path = str(params["driving_video"])
    return {
        "image": load_image(str(params["image_start"])),
        "driving_video": read_frames(path, flag="--driving-video"),
        "driving_video_fps": video_fps(path),
    }


def pipeline_kwargs(params: Mapping[str, Any], inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The WanAnimate2ModularPipeline call for one request, minus ``generator`` (guidance is the
    guider component's: :meth:`Animate2Model.prepare`)."""
    kwargs: dict[str, Any] = {
        "prompt": str(params["prompt"]),
        "height": int(params["height"]),
        "width": int(params["width"]),
        "fps": int(params["fps"]),
        "segment_frame_length": int(params["segment_frames"]),
        "prev_segment_conditioning_frames": int(params["segment_overlap"]),
        "num_inference_steps": int(params["steps"]),
        "output_type": "np",
    }
    if params.get("negative_prompt") is not None:
        kwargs["negative_prompt"] = str(params["negative_prompt"])
    kwargs.update(inputs or {})
    return kwargs


class _SchedulerOwner:
    """What :func:`wgp_diffusers.stepping.reporting_steps` reports from: the pipeline's scheduler,
    on an object whose call takes no step callback (a modular pipeline's ``__call__`` takes
    ``**kwargs``, so handed the pipeline itself it would pass the callback as a call argument)."""

    def __init__(self, pipe: Any) -> None:
        self.scheduler = pipe.scheduler

    def __call__(self) -> None:  # pragma: no cover - never called; its signature is what counts
        raise NotImplementedError


class _CancelOnly:
    """``context`` whose ``step`` only checks for a cancel: the base reports once per segment,
    the scheduler once per step (the step events)."""

    def __init__(self, context: GenerationContext) -> None:
        self._context = context

    def step(self, i: int, total: int, model: Any = None, **fields: Any) -> None:
        self._context.cancel.raise_if_cancelled()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class Animate2Model(ModularDiffusersModel):
    """A loaded Wan Animate 2 modular pipeline; reads the character image and the driving video."""

    #: The character is read (uncropped) by load_inputs: the blocks letterbox it.
    image_arguments: ClassVar[Mapping[str, str]] = {}
    #: As the Wan recipes: T5 and the DiT in bfloat16 or float32, the VAE and CLIP in float32.
    float32_components = ("vae", "image_encoder")
    safe_dtypes = ("bf16", "fp32")
    check_layout = staticmethod(check_layout)
    pipeline_kwargs = staticmethod(pipeline_kwargs)

    @staticmethod
    def modular_class(spec: ModelSpec) -> type:
        import diffusers

        return diffusers.WanAnimate2ModularPipeline

    def load_inputs(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return load_inputs(params)

    @classmethod
    def load(cls, spec: ModelSpec, plan: Any) -> Animate2Model:
        """The base's load; ``--attention`` is refused first (the in-context attention is a flex
        block mask, whatever the backend), and a GPU run without compile is warned about."""
        attention = plan.option("attention", "auto")
        if attention not in ("auto", None):
            raise UserError(f"--attention {attention} does not run on {spec.id}: its in-context attention runs on "
                            "PyTorch flex attention with a block mask; use --attention auto")
        model = super().load(spec, plan)
        if plan.option("compile", "none") == "none" and not str(model.device).startswith("cpu"):
            # WanAnimate2Transformer3DModel's docstring: uncompiled flex attention materialises the full
            # attention matrix, which does not fit in memory at video resolutions.
            model.warnings.append(f"{spec.id} without --compile runs flex attention unfused (the full attention "
                                  "matrix in memory); use --compile regional at video sizes")
        return model  # type: ignore[return-value]

    def prepare(self, pipe: Any, params: Mapping[str, Any]) -> None:
        from diffusers import ClassifierFreeGuidance

        guidance = float(params["guidance"])
        if getattr(pipe.guider, "guidance_scale", None) != guidance:  # the blocks' default guider is CFG 3
            pipe.update_components(guider=ClassifierFreeGuidance(guidance_scale=guidance))

    def generate(self, request: GenerationRequest, context: GenerationContext) -> GenerationResult:
        """The base's generate, with steps reported from the scheduler (see the module docstring)."""
        if self.pipe is None:
            raise RuntimeError(f"{self.spec.id} was unloaded")
        steps = int({**self.spec.defaults(), **{k: v for k, v in request.params.items() if v is not None}}["steps"])
        with stepping.reporting_steps(_SchedulerOwner(self.pipe), _per_segment(context, steps, self.pipe)), \
                _quiet_segment_bars():
            return super().generate(request, _CancelOnly(context))  # type: ignore[arg-type]


def _per_segment(context: GenerationContext, steps: int, pipe: Any) -> Callable[[Any, int, Any, dict], dict]:
    """``step i + 1`` of ``steps``, counted from 1 again in each segment."""

    def on_step_end(owner: Any, i: int, t: Any, callback_kwargs: dict) -> dict:
        context.step(i % steps + 1, steps, model=pipe)
        return callback_kwargs

    return on_step_end


@contextlib.contextmanager
def _quiet_segment_bars() -> Iterator[None]:
    """The denoise block opens a tqdm bar of its own per segment, which ``set_progress_bar_config``
    does not reach; the host reports the steps, so for the call that bar is created disabled."""
    import functools

    from diffusers.modular_pipelines.wan_animate_2 import denoise

    original = denoise.tqdm
    denoise.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        denoise.tqdm = original


__all__ = [
    "ANIMATE2_SPEC",
    "Animate2Model",
    "check",
    "check_layout",
    "load_inputs",
    "pipeline_kwargs",
    "video_fps",
]
