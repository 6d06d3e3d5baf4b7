"""The Qwen-Image model ids, their weights and their parameters.

Defaults follow the official Quick Start of the Qwen-Image repository (github.com/QwenLM/Qwen-Image,
README.md, which the Hugging Face model cards repeat), cited beside each model below.  Every
model there runs true classifier-free guidance (``true_cfg_scale=4.0`` with a negative
prompt, " " when there is nothing to avoid); wgp's ``guidance`` is that scale.  None of the
transformers embeds a distilled guidance (``guidance_embeds`` is false), so the
``guidance_scale=1.0`` of the Edit-2509/2511 examples changes nothing and is not passed.
``options`` holds what the loader and the tiny-model builder need.  Data only: no torch.
"""

from __future__ import annotations

from wgp_hookspecs import SEED_PARAM, ModelSpec, Param

T2I = "text-to-image"
EDIT = "image-editing"

#: The negative prompt of the README's examples "if you don't use a negative prompt".
BLANK_NEGATIVE = " "
#: The negative prompt of the Qwen-Image-2512 Quick Start (README, "Qwen-Image-2512" section).
NEGATIVE_2512 = "低分辨率，低画质，肢体畸形，手指畸形，画面过饱和，蜡像感，人脸无细节，过度光滑，画面具有AI感。构图混乱。文字模糊，扭曲。"

#: Edit-2509 and -2511 take several images; the Qwen/Qwen-Image-Edit-2509 model card
#: (Introduction, "Multi-image Editing Support"): optimal performance with 1 to 3 input images.
MAX_REFERENCE_IMAGES = 3
REFERENCE_FLAG = "--reference-image"


def _params(
    *, steps: int, size: int, negative: str = BLANK_NEGATIVE, edit: str | None = None,
) -> tuple[Param, ...]:
    """The parameter schema of one model; ``edit`` is None (text-to-image), ``"single"``
    (``image_start``, Qwen-Image-Edit) or ``"multiple"`` (``reference_images``, Edit-2509/2511)."""
    params = [
        Param("prompt", "str", required=True, help="what the image shows" + (" after the edit" if edit else "")),
        Param("negative_prompt", "str", default=negative, help="what to steer away from (true CFG; ' ' for nothing)"),
        SEED_PARAM,
        Param("width", "int", default=size, minimum=16, multiple_of=16, help="image width in pixels"),
        Param("height", "int", default=size, minimum=16, multiple_of=16, help="image height in pixels"),
        Param("steps", "int", default=steps, minimum=1, maximum=1000, help="denoising steps"),
        Param("guidance", "float", default=4.0, minimum=0.0,
              help="true classifier-free guidance scale (true_cfg_scale; 1 or less turns it off)"),
        Param("batch_size", "int", default=1, minimum=1, maximum=16, help="number of images"),
    ]
    if edit is None:
        # QwenImagePipeline cuts the prompt's embeddings at max_sequence_length (512 by
        # default) and refuses more than 1024; the Edit pipelines do not cut.
        params.append(Param("max_sequence_length", "int", default=512, minimum=1, maximum=1024,
                            help="prompt tokens the transformer sees"))
    elif edit == "single":
        params.append(Param("image_start", "image", required=True, help="the image to edit (--image-start)"))
    else:
        params.append(Param(
            "reference_images", "image", required=True, multiple=True, flag=REFERENCE_FLAG,
            minimum=1, maximum=MAX_REFERENCE_IMAGES,
            help=f"an image to edit or compose from, 1 to {MAX_REFERENCE_IMAGES} (repeat {REFERENCE_FLAG}; "
                 "the prompt calls them Picture 1, Picture 2, ...)",
        ))
    return tuple(params)


#: Every Qwen-Image model wgp knows.  ``options``:
#:   pipeline     "text" (QwenImagePipeline), "edit" (QwenImageEditPipeline) or "edit_plus"
#:                (QwenImageEditPlusPipeline: several images)
#:   zero_cond_t  the transformer modulates the reference images' tokens at t=0 (Edit-2511's
#:                transformer config); the 2509 transformer does not
#:   image        the parameter whose image sizes the output when no size is given (the
#:                pipeline's own rule: its aspect ratio at 1024x1024's area, the last one of several)
QWEN_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="qwen-image",
        capabilities=frozenset({T2I}),
        # README "Qwen-Image (for Text-to-Image)": 50 steps, true_cfg_scale 4.0, negative " ",
        # the 1:1 entry of its aspect-ratio table (1328x1328).
        params=_params(steps=50, size=1328),
        description="Qwen-Image text-to-image, 20B MMDiT, strong text rendering, 1328x1328",
        weights="Qwen/Qwen-Image",
        options={"pipeline": "text"},
    ),
    ModelSpec(
        id="qwen-image-2512",
        capabilities=frozenset({T2I}),
        # README "Qwen-Image-2512": 50 steps, true_cfg_scale 4.0, its own negative prompt, the
        # same aspect-ratio table (1:1: 1328x1328).
        params=_params(steps=50, size=1328, negative=NEGATIVE_2512),
        description="Qwen-Image-2512 text-to-image (December 2025 update: realism, textures, text), 1328x1328",
        weights="Qwen/Qwen-Image-2512",
        options={"pipeline": "text"},
    ),
    ModelSpec(
        id="qwen-image-edit",
        capabilities=frozenset({EDIT}),
        # README "Qwen-Image-Edit": one image, 50 steps, true_cfg_scale 4.0, negative " ".
        params=_params(steps=50, size=1024, edit="single"),
        description="Qwen-Image-Edit: edit one image (--image-start) from a prompt, 20B",
        weights="Qwen/Qwen-Image-Edit",
        options={"pipeline": "edit", "image": "image_start"},
    ),
    ModelSpec(
        id="qwen-image-edit-2509",
        capabilities=frozenset({EDIT}),
        # README "Qwen-Image-Edit-2509": a list of images, 40 steps, true_cfg_scale 4.0, negative " ".
        params=_params(steps=40, size=1024, edit="multiple"),
        description=f"Qwen-Image-Edit-2509: edit or compose 1-{MAX_REFERENCE_IMAGES} images ({REFERENCE_FLAG}), 20B",
        weights="Qwen/Qwen-Image-Edit-2509",
        options={"pipeline": "edit_plus", "zero_cond_t": False, "image": "reference_images"},
    ),
    ModelSpec(
        id="qwen-image-edit-2511",
        capabilities=frozenset({EDIT}),
        # README "Qwen-Image-Edit-2511": as 2509 (40 steps, true_cfg_scale 4.0, negative " ").
        params=_params(steps=40, size=1024, edit="multiple"),
        description=f"Qwen-Image-Edit-2511: better consistency, 1-{MAX_REFERENCE_IMAGES} images ({REFERENCE_FLAG}), 20B",
        weights="Qwen/Qwen-Image-Edit-2511",
        options={"pipeline": "edit_plus", "zero_cond_t": True, "image": "reference_images"},
    ),
)

QWEN_SPECS = {spec.id: spec for spec in QWEN_MODELS}
QWEN_MODEL_IDS = tuple(QWEN_SPECS)


def get_spec(model_id: str) -> ModelSpec:
    """The spec of ``model_id``; KeyError names the known ids."""
    try:
        return QWEN_SPECS[model_id]
    except KeyError:
        raise KeyError(f"unknown Qwen-Image model {model_id!r}; known: {', '.join(QWEN_MODEL_IDS)}") from None
