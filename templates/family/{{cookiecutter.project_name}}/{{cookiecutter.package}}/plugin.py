"""Registers the ``{{ cookiecutter.plugin_name }}`` family: descriptors only.

wgp imports this module on every start, ``wgp --help`` included, so it imports nothing
heavy; the model's own code (numpy here, torch in a real model) is imported by ``load``.
"""

from __future__ import annotations

from typing import Callable

from wgp_hookspecs import SEED_PARAM, LoadedModel, LoadPlan, ModelFamily, ModelSpec, Param, hookimpl

#: The host validates every request against ``params`` before anything is queued or loaded,
#: so ``generate`` sees clean, typed values with the seed resolved.
MODEL = ModelSpec(
    id="{{ cookiecutter.plugin_name }}",
    capabilities=frozenset({"text-to-video"}),
    description="Drifting colour bands from the prompt and the seed",
    params=(
        Param("prompt", "str", required=True, help="What the video shows."),
        Param("negative_prompt", "str", "", help="What to avoid (recorded; this model ignores it)."),
        SEED_PARAM,
        Param("steps", "int", 4, minimum=1, maximum=1000, help="Refinement steps (a progress event each)."),
        Param("width", "int", 64, minimum=16, maximum=2048, multiple_of=16, help="Width in pixels."),
        Param("height", "int", 64, minimum=16, maximum=2048, multiple_of=16, help="Height in pixels."),
        Param("frames", "int", 17, minimum=1, maximum=1001, multiple_of=4, remainder=1, help="Number of frames (4n+1)."),
        Param("fps", "float", 16.0, minimum=1, maximum=240, help="Frames per second."),
    ),
)


def load(spec: ModelSpec, plan: LoadPlan) -> LoadedModel:
    """Called in the worker when a job needs the model; the runner keeps what it returns."""
    from .model import {{ cookiecutter.class_name }}Model

    return {{ cookiecutter.class_name }}Model(spec)


FAMILY = ModelFamily(name="{{ cookiecutter.plugin_name }}", models=(MODEL,), load=load, description="{{ cookiecutter.description }}")


@hookimpl
def register_model_families(register: Callable[[ModelFamily], None]) -> None:
    register(FAMILY)
