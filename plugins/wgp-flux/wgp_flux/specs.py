"""The model ids of this plugin (FLUX.1 here, FLUX.2 in :mod:`wgp_flux.specs_flux2`), their weights and parameters.

Defaults follow the model cards (FLUX.1-dev: 50 steps, guidance 3.5, 512
tokens; FLUX.1-schnell: 4 steps, guidance 0, 256 tokens; FLUX.1-Kontext-dev:
28 steps, guidance 2.5).  ``options`` holds what the loader and the tiny-model
builder need to know about each checkpoint.  Data only: no torch, no numpy.
"""

from __future__ import annotations

from wgp_hookspecs import SEED_PARAM, ModelSpec, Param

from wgp_diffusers.schema import BATCH_SIZE_PARAM, ModelCatalog, size_params
from wgp_diffusers.sizing import SizeRule

from .specs_flux2 import FLUX2_MODELS

T2I = "text-to-image"
EDIT = "image-editing"


def _params(*, steps: int, guidance: float, max_sequence_length: int, reference: bool = False) -> tuple[Param, ...]:
    """The parameter schema of one model; ``reference`` adds Kontext's image to edit and its resize switch."""
    params = [
        Param("prompt", "str", required=True, help="what the image shows" + (" after the edit" if reference else "")),
        SEED_PARAM,
        *size_params(1024, 1024),
        Param("steps", "int", default=steps, minimum=1, maximum=1000, help="denoising steps"),
        Param("guidance", "float", default=guidance, minimum=0.0, help="distilled guidance scale (0 for schnell)"),
        BATCH_SIZE_PARAM,
        Param(
            "max_sequence_length", "int", default=max_sequence_length, minimum=1, maximum=max_sequence_length,
            help="T5 prompt tokens",
        ),
    ]
    if reference:
        params += [
            Param("image_start", "image", required=True, help="the reference image to edit (--image-start)"),
            Param(
                "auto_resize", "bool", default=True,
                help="resize the reference image to the Kontext training resolution nearest its aspect ratio",
            ),
        ]
    return tuple(params)


#: Multiples of 16 (FluxKontextPipeline: vae_scale_factor * 2); the reference is not cropped: the
#: pipeline encodes it at its own resolution, whatever the output's shape.
KONTEXT_SIZE = SizeRule(multiple=16, fit="kontext", crop=False)


#: Every FLUX.1 model wgp knows.  ``options``:
#:   pipeline         "text" (FluxPipeline) or "kontext" (FluxKontextPipeline)
#:   guidance_embeds  the transformer takes the guidance scale as an input (dev, Kontext)
#:   scheduler        "dynamic" (resolution-dependent shift: dev, Kontext) or "fixed" (schnell)
#:   size_rule        Kontext: without a size, the output is the reference's preferred Kontext
#:                    resolution (FluxKontextPipeline's own choice for the reference), not 1024x1024
FLUX1_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="flux.1-dev",
        capabilities=frozenset({T2I}),
        params=_params(steps=50, guidance=3.5, max_sequence_length=512),
        description="FLUX.1 [dev] text-to-image, 12B, guidance-distilled, 1024x1024",
        weights="black-forest-labs/FLUX.1-dev",
        options={"pipeline": "text", "guidance_embeds": True, "scheduler": "dynamic"},
    ),
    ModelSpec(
        id="flux.1-schnell",
        capabilities=frozenset({T2I}),
        params=_params(steps=4, guidance=0.0, max_sequence_length=256),
        description="FLUX.1 [schnell] text-to-image, 12B, timestep-distilled: 1-4 steps, 1024x1024",
        weights="black-forest-labs/FLUX.1-schnell",
        options={"pipeline": "text", "guidance_embeds": False, "scheduler": "fixed"},
    ),
    ModelSpec(
        id="flux.1-kontext-dev",
        capabilities=frozenset({EDIT}),
        params=_params(steps=28, guidance=2.5, max_sequence_length=512, reference=True),
        description="FLUX.1 Kontext [dev] image editing from a reference image and a prompt, 12B",
        weights="black-forest-labs/FLUX.1-Kontext-dev",
        options={"pipeline": "kontext", "guidance_embeds": True, "scheduler": "dynamic", "size_rule": KONTEXT_SIZE},
    ),
)

#: Every model of the family: FLUX.1 and FLUX.2 (one family, so one weights rule tells their folders apart).
FLUX_MODELS: tuple[ModelSpec, ...] = FLUX1_MODELS + FLUX2_MODELS
FLUX1_MODEL_IDS = tuple(spec.id for spec in FLUX1_MODELS)

FLUX_SPECS = ModelCatalog("Flux", FLUX_MODELS)
FLUX_MODEL_IDS = FLUX_SPECS.ids


def get_spec(model_id: str) -> ModelSpec:
    """The spec of ``model_id``; KeyError names the known ids."""
    return FLUX_SPECS[model_id]
