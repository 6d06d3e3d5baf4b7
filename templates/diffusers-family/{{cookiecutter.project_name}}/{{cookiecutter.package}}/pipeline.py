"""Loading and running the model with diffusers: the first module here that imports torch.

``DiffusersModel`` does what every diffusers family does (plan checks, weights,
``from_pretrained``, placement, levers, seeded call, step events, uint8 frames); this class
says only what is this model's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import diffusers
from wgp_diffusers import DiffusersModel, standard_kwargs
from wgp_hookspecs import LoadPlan, ModelSpec


class {{ cookiecutter.class_name }}Model(DiffusersModel):
    #: The dtypes the model's published recipe runs in; ``--dtype auto`` picks among them
    #: (bfloat16 on a recent GPU, float32 on a CPU) and warns about an explicit other one.
    safe_dtypes = ("bf16", "fp32")

    @staticmethod
    def pipeline_class(spec: ModelSpec, with_image: bool = False) -> type:
        return diffusers.LTXPipeline

    @staticmethod
    def pipeline_kwargs(params: Mapping[str, Any], images: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The call's arguments, minus generator and callback (the tests build the direct call from them too)."""
        kwargs = standard_kwargs(params)  # prompt, negative_prompt, height, width, steps, guidance, output_type
        kwargs.update(num_frames=int(params["frames"]), frame_rate=int(params["fps"]))
        return kwargs


def load(spec: ModelSpec, plan: LoadPlan) -> {{ cookiecutter.class_name }}Model:
    """``define_family``'s ``load``: the runner calls it when a job needs the model."""
    return {{ cookiecutter.class_name }}Model.load(spec, plan)
