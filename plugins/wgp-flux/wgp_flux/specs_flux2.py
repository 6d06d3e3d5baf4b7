"""The FLUX.2 model ids ([dev] and [klein]), their weights and their parameters.

Every FLUX.2 model generates from text and edits from one or more reference images with the
same weights (diffusers ``Flux2Pipeline`` / ``Flux2KleinPipeline`` take ``image=[...]``), so each
id has both capabilities and an optional ``reference_images`` list (``--reference-image``,
repeatable).  Defaults are the official ones:

* steps and guidance: Black Forest Labs' reference code, ``FLUX2_MODEL_INFO`` in
  ``src/flux2/util.py`` of github.com/black-forest-labs/flux2 (dev: 50 steps, guidance 4.0;
  klein 4B/9B: 4 steps, guidance 1.0, both fixed by its CLI because they are step- and
  guidance-distilled; klein base 4B/9B: 50 steps, guidance 4.0), which the dev diffusers guide
  (``docs/flux2_dev_hf.md`` there: ``num_inference_steps=50, guidance_scale=4``) repeats;
* size: 1024x1024, diffusers' own default (``default_sample_size`` 128 x the 8x VAE);
* prompt tokens: 512, the pipelines' ``max_sequence_length`` default and the reference code's;
* reference images: at most 4 for [klein] and 6 for [dev], Black Forest Labs' documented
  limits (docs.bfl.ml, "Image Editing": "FLUX.2 [klein] 4B/9B: up to 4", "[dev]: recommended
  max 6").

Data only: no torch.
"""

from __future__ import annotations

from wgp_hookspecs import SEED_PARAM, ModelSpec, Param

from wgp_diffusers.levers import refusing

T2I = "text-to-image"
EDIT = "image-editing"

#: What diffusers' ``Flux2ImageProcessor.check_image_input`` refuses mid-job (ValueError): checked at the door.
MIN_REFERENCE_SIDE = 64
MAX_REFERENCE_ASPECT = 8
#: First Block Cache fails mid-job on FLUX.2's transformer in diffusers 0.42: it subtracts the first
#: (double-stream) block's (text, image) pair from a single-stream block's one joined tensor.
REFUSED_CACHES = refusing(("fbcache",), "diffusers' First Block Cache cannot follow the FLUX.2 transformer's single-stream blocks")


def _params(*, steps: int, guidance: float, distilled: bool, max_references: int) -> tuple[Param, ...]:
    guidance_help = ("guidance scale; ignored: this model is guidance-distilled (1.0 is the official value)" if distilled
                     else "classifier-free guidance scale (above 1: a second, unconditional pass per step)")
    return (
        Param("prompt", "str", required=True, help="what the image shows (after the edit, with reference images)"),
        SEED_PARAM,
        # 1024: diffusers' Flux2Pipeline / Flux2KleinPipeline default (default_sample_size 128 x the 8x VAE).
        Param("width", "int", default=1024, minimum=16, multiple_of=16, help="image width in pixels"),
        Param("height", "int", default=1024, minimum=16, multiple_of=16, help="image height in pixels"),
        Param("steps", "int", default=steps, minimum=1, maximum=1000, help="denoising steps"),
        Param("guidance", "float", default=guidance, minimum=0.0, help=guidance_help),
        Param("batch_size", "int", default=1, minimum=1, maximum=16, help="number of images"),
        # 512: the pipelines' max_sequence_length default, and the reference code's text-encoder length.
        Param("max_sequence_length", "int", default=512, minimum=1, maximum=512, help="text-encoder prompt tokens"),
        Param(
            "reference_images", "image", multiple=True, flag="--reference-image",
            help=f"an image to edit or take subjects, style or layout from; repeatable, at most {max_references} "
                 f"(each at least {MIN_REFERENCE_SIDE} px a side)",
        ),
    )


def _klein(size: str, *, base: bool, repo: str, licence: str) -> ModelSpec:
    # Black Forest Labs' FLUX2_MODEL_INFO (src/flux2/util.py): base 50 steps / 4.0, distilled 4 / 1.0 (fixed).
    steps, guidance = (50, 4.0) if base else (4, 1.0)
    kind = "undistilled base (for fine-tuning, CFG)" if base else "step-distilled, 4 steps"
    return ModelSpec(
        id=f"flux.2-klein-{'base-' if base else ''}{size.lower()}",
        capabilities=frozenset({T2I, EDIT}),
        params=_params(steps=steps, guidance=guidance, distilled=not base, max_references=4),
        description=f"FLUX.2 [klein] {size}{' Base' if base else ''} text-to-image and multi-reference editing, "
                    f"{kind}, Qwen3 text encoder, {licence}",
        weights=repo,
        # docs.bfl.ml "Image Editing": [klein] 4B and 9B take up to 4 reference images.
        options={"pipeline": "klein", "guidance_embeds": False, "distilled": not base, "max_references": 4,
                 "refused_caches": REFUSED_CACHES},
    )


#: Every FLUX.2 model wgp knows.  ``options``:
#:   pipeline         "flux2" (Flux2Pipeline, Mistral Small 3.x text encoder) or "klein" (Flux2KleinPipeline, Qwen3)
#:   guidance_embeds  the transformer takes the guidance scale as an input ([dev]; [klein] has none)
#:   distilled        [klein]: the pipeline's ``is_distilled`` (model_index.json), no CFG pass
#:   max_references   how many reference images the door accepts
#:   refused_caches   the step caches it cannot take (:func:`wgp_diffusers.levers.check_cache`)
FLUX2_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="flux.2-dev",
        capabilities=frozenset({T2I, EDIT}),
        # FLUX2_MODEL_INFO["flux.2-dev"] and BFL's docs/flux2_dev_hf.md: 50 steps, guidance 4; docs.bfl.ml: max 6 references.
        params=_params(steps=50, guidance=4.0, distilled=False, max_references=6),
        description="FLUX.2 [dev] text-to-image and multi-reference editing, 32B, guidance-distilled, "
                    "Mistral Small 3.x text encoder, non-commercial licence",
        weights="black-forest-labs/FLUX.2-dev",
        options={"pipeline": "flux2", "guidance_embeds": True, "max_references": 6, "refused_caches": REFUSED_CACHES},
    ),
    _klein("4B", base=False, repo="black-forest-labs/FLUX.2-klein-4B", licence="Apache-2.0"),
    _klein("9B", base=False, repo="black-forest-labs/FLUX.2-klein-9B", licence="non-commercial licence"),
    _klein("4B", base=True, repo="black-forest-labs/FLUX.2-klein-base-4B", licence="Apache-2.0"),
    _klein("9B", base=True, repo="black-forest-labs/FLUX.2-klein-base-9B", licence="non-commercial licence"),
)

FLUX2_MODEL_IDS = tuple(spec.id for spec in FLUX2_MODELS)
