"""The Z-Image model ids, their weights and their parameters.

Sources of the defaults:

* Z-Image-Turbo: the model zoo table and the diffusers example of the official README
  (github.com/Tongyi-MAI/Z-Image): 1024x1024, guidance 0 ("Guidance should be 0 for the Turbo
  models"), 8 function evaluations.  The README passes ``num_inference_steps=9`` ("actually
  results in 8 DiT forwards"), written for the diffusers of its day, whose schedule ended on a
  step that did no work; diffusers 0.42's ``ZImagePipeline`` (``get_default_z_image_sigmas``)
  runs one transformer pass per step, so 8 steps are those 8 forwards (huggingface.co/
  Tongyi-MAI/Z-Image-Turbo discussion #158, after diffusers PR #13730).
* Z-Image (the undistilled base): the same README's "Recommended Parameters" and example:
  50 steps (28-50 recommended), guidance 4 (3-5), ``cfg_normalization=False`` ("False for
  general stylism, True for realism"), a negative prompt recommended.  Its example is 720x1280;
  the recommended range is 512x512 to 2048x2048 of any ratio, and wgp's default is the
  pipeline's own 1024x1024.
* Image-to-image (``image_start`` + ``strength``): diffusers' Z-Image docs
  (``ZImageImg2ImgPipeline`` example: ``strength=0.6``, also the pipeline's default).
* ``max_sequence_length`` 512: the pipeline's default (Qwen3 prompt tokens, chat template included).

``options`` holds what the loader and the tiny-model builder need to know about each
checkpoint.  Data only: no torch, no numpy.
"""

from __future__ import annotations

from wgp_hookspecs import SEED_PARAM, ModelSpec, Param

from wgp_diffusers.schema import BATCH_SIZE_PARAM, ModelCatalog, size_params
from wgp_diffusers.sizing import SizeRule

T2I = "text-to-image"
I2I = "image-to-image"

#: With ``--image-start`` and no size, the output takes the image's aspect ratio at the default
#: area (1024x1024's), sides multiples of 16 (VAE 8x, 2x2 patches); the image is centre-cropped
#: to the output's ratio, never stretched.
IMAGE_SIZE = SizeRule(multiple=16, fit="area")


def _params(*, steps: int, guidance: float, base: bool) -> tuple[Param, ...]:
    """The parameter schema of one model; ``base`` adds what only undistilled guidance uses."""
    params = [
        Param("prompt", "str", required=True, help="what the image shows"),
        SEED_PARAM,
        *size_params(1024, 1024),
        Param("steps", "int", default=steps, minimum=1, maximum=1000, help="denoising steps (one transformer pass each)"),
        Param(
            "guidance", "float", default=guidance, minimum=0.0,
            help="classifier-free guidance scale; 0 turns it off" + (" (Turbo is distilled for 0)" if not base else ""),
        ),
        BATCH_SIZE_PARAM,
        Param("max_sequence_length", "int", default=512, minimum=1, maximum=512, help="Qwen3 prompt tokens"),
        Param("image_start", "image", help="an image to start from (image-to-image, --image-start)"),
        Param(
            "strength", "float", default=0.6, minimum=0.0, maximum=1.0,
            help="with --image-start: how much of the image is renoised, 1 keeps nothing of it",
        ),
    ]
    if base:
        params[1:1] = [Param("negative_prompt", "str", default="", help="what the image should not show (with guidance > 0)")]
        params.append(Param(
            "cfg_normalization", "bool", default=False,
            help="cap the guided prediction's norm at the conditional one's (the README: on for realism)",
        ))
    return tuple(params)


#: Every Z-Image model wgp knows.  ``options``:
#:   distilled   Turbo: few steps, no classifier-free guidance (the tiny builder and docs use it)
#:   size_rule   with --image-start and no size, the output follows the image's aspect ratio
ZIMAGE_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="z-image-turbo",
        capabilities=frozenset({T2I, I2I}),
        params=_params(steps=8, guidance=0.0, base=False),
        description="Z-Image-Turbo text-to-image (and image-to-image), 6B, distilled: 8 steps without guidance, 1024x1024",
        weights="Tongyi-MAI/Z-Image-Turbo",
        options={"distilled": True, "size_rule": IMAGE_SIZE},
    ),
    ModelSpec(
        id="z-image",
        capabilities=frozenset({T2I, I2I}),
        params=_params(steps=50, guidance=4.0, base=True),
        description="Z-Image (base, undistilled) text-to-image (and image-to-image), 6B, 50 steps with CFG and negative prompt",
        weights="Tongyi-MAI/Z-Image",
        options={"distilled": False, "size_rule": IMAGE_SIZE},
    ),
)

ZIMAGE_SPECS = ModelCatalog("Z-Image", ZIMAGE_MODELS)
ZIMAGE_MODEL_IDS = ZIMAGE_SPECS.ids


def get_spec(model_id: str) -> ModelSpec:
    """The spec of ``model_id``; KeyError names the known ids."""
    return ZIMAGE_SPECS[model_id]
