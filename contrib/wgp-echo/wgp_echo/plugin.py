"""Registration of the ``echo`` family: descriptors only, nothing heavy imported."""

from __future__ import annotations

from typing import Any

from wgp_hookspecs import SEED_PARAM, LoadPlan, ModelFamily, ModelSpec, Param, hookimpl

COMMON = (
    Param("prompt", "str", required=True, help="Text that the output is derived from."),
    Param("negative_prompt", "str", "", help="Accepted and recorded; echo ignores it."),
    SEED_PARAM,
    Param("steps", "int", 4, minimum=1, maximum=10_000, help="Refinement steps (one progress event each)."),
    Param("step_seconds", "float", 0.0, minimum=0, maximum=3600, help="Pause per step, for long-running test jobs."),
)
SIZE = (
    Param("width", "int", 64, minimum=2, maximum=4096, help="Width in pixels."),
    Param("height", "int", 64, minimum=2, maximum=4096, help="Height in pixels."),
)

MODELS = (
    ModelSpec(
        id="echo",
        capabilities=frozenset({"text-to-video", "image-to-video", "audio-out"}),
        description="Deterministic moving pattern from prompt and seed, with a tone as audio",
        params=COMMON
        + SIZE
        + (
            Param("frames", "int", 17, minimum=1, maximum=10_000, help="Number of frames."),
            Param("fps", "float", 16.0, minimum=1, maximum=240, help="Frames per second."),
            Param("audio", "bool", True, help="Add a tone as an audio track."),
            Param("tone_hz", "float", None, minimum=20, maximum=20_000, help="Tone frequency (default: from the prompt)."),
            Param("image_start", "image", None, help="Optional start image blended into the frames."),
            Param("reference_images", "image", None, multiple=True, maximum=4, flag="--reference-image",
                  help="Reference image; repeatable: each tints the whole clip"),
            Param("soundtrack", "audio", None, flag="--audio",
                  help="Audio file that becomes the clip's sound instead of the tone (its first seconds)"),
        ),
    ),
    ModelSpec(
        id="echo-matte",
        capabilities=frozenset({"text-to-video", "mattes-out"}),
        description="The echo pattern plus a soft moving disc as its alpha matte",
        params=COMMON
        + SIZE
        + (
            Param("frames", "int", 9, minimum=1, maximum=10_000, help="Number of frames."),
            Param("fps", "float", 16.0, minimum=1, maximum=240, help="Frames per second."),
        ),
    ),
    ModelSpec(
        id="echo-image",
        capabilities=frozenset({"text-to-image"}),
        description="Deterministic images from prompt and seed",
        params=COMMON + SIZE + (Param("batch_size", "int", 1, minimum=1, maximum=64, help="Number of images."),),
    ),
    ModelSpec(
        id="echo-audio",
        capabilities=frozenset({"text-to-audio"}),
        description="A deterministic tone from prompt and seed",
        params=COMMON
        + (
            Param("duration_s", "float", 1.0, minimum=0.01, maximum=3600, help="Length in seconds."),
            Param("sample_rate", "int", 24_000, choices=(16_000, 22_050, 24_000, 44_100, 48_000)),
            Param("channels", "int", 1, minimum=1, maximum=2),
        ),
    ),
)


def load(spec: ModelSpec, plan: LoadPlan) -> Any:
    from .model import EchoModel

    return EchoModel(spec)


@hookimpl
def register_model_families(register: Any) -> None:
    register(ModelFamily(name="echo", models=MODELS, load=load, description="Torch-free toy family for tests and examples"))
