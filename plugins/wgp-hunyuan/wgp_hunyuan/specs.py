"""The HunyuanVideo 1.5 model ids, their weights and their parameters.

Defaults follow the official HunyuanVideo-1.5 repository: ``generate.py`` (50 steps, 121
frames, written at 24 fps, empty negative prompt, aspect ratio 16:9) and the README's
"Optimal Inference Configurations" table (CFG scale 6; flow shift 5 at 480p, 9 for 720p
text-to-video, 7 for 720p image-to-video).  The diffusers conversion script
(``scripts/convert_hunyuan_video1_5_to_diffusers.py``) saves the same shift in each
checkpoint's scheduler and the same scale in its guider.  Data only: no torch, no numpy.
"""

from __future__ import annotations

from wgp_hookspecs import SEED_PARAM, ModelSpec, Param

from wgp_diffusers.schema import ModelCatalog, size_params

T2V = "text-to-video"
I2V = "image-to-video"

#: The diffusers-format checkpoints of the HunyuanVideo-1.5 collection on the Hub (the
#: official README's "Usage with Diffusers" names the 720p one; the others follow its pattern).
REPOS = {
    ("480p", "t2v"): "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_t2v",
    ("480p", "i2v"): "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_i2v",
    ("720p", "t2v"): "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-720p_t2v",
    ("720p", "i2v"): "hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-720p_i2v",
}

#: The transformer's ``target_size`` per resolution (the conversion script's TRANSFORMER_CONFIGS):
#: sizes are chosen from buckets of about target_size^2 pixels.
TARGET_SIZES = {"480p": 640, "720p": 960}

#: 16:9 at each target size, as the pipeline's own default bucket (HunyuanVideo15Pipeline's
#: default_aspect_ratio with HunyuanVideo15ImageProcessor.calculate_default_height_width).
DEFAULT_SIZES = {"480p": (848, 480), "720p": (1280, 720)}

#: README "Optimal Inference Configurations": flow shift per checkpoint.
FLOW_SHIFTS = {("480p", "t2v"): 5.0, ("480p", "i2v"): 5.0, ("720p", "t2v"): 9.0, ("720p", "i2v"): 7.0}


def _params(resolution: str, task: str) -> tuple[Param, ...]:
    """The parameter schema of one checkpoint.

    Image-to-video has no ``width``/``height``: HunyuanVideo15ImageToVideoPipeline takes none and
    always makes the bucket nearest the start image's aspect ratio (centre-cropping the image to
    it), so wgp does not offer a size it could not honour.
    """
    params = [
        Param("prompt", "str", required=True, help="what the video shows"),
        # generate.py: --negative_prompt defaults to ''.
        Param("negative_prompt", "str", default="", help="what to steer away from"),
        SEED_PARAM,
    ]
    if task == "t2v":
        width, height = DEFAULT_SIZES[resolution]
        params += size_params(width, height, multiple=16, what="frame")  # 16x VAE, 1x1 patches: multiples of 16
    params += [
        # generate.py: --video_length 121 ("the optimal value"); the VAE compresses time 4x: 4n+1.
        Param("frames", "int", default=121, minimum=1, multiple_of=4, remainder=1, help="number of frames (4n+1)"),
        Param("steps", "int", default=50, minimum=1, maximum=1000, help="denoising steps"),  # generate.py: 50
        # README table: CFG scale 6 for every non-distilled checkpoint (the guider's guidance_scale).
        Param("guidance", "float", default=6.0, minimum=0.0, help="classifier-free guidance scale (1 turns it off)"),
        Param("flow_shift", "float", default=FLOW_SHIFTS[resolution, task], minimum=0.0,
              help="scheduler flow shift (the checkpoint's own by default)"),
        # generate.py: save_video writes at fps=24.
        Param("fps", "int", default=24, minimum=1, maximum=240, help="frames per second of the output video"),
    ]
    if task == "i2v":
        params.append(Param("image_start", "image", required=True,
                            help="first frame; the video takes the size bucket nearest its aspect ratio"))
    return tuple(params)


def _spec(resolution: str, task: str) -> ModelSpec:
    what = "text-to-video" if task == "t2v" else "image-to-video"
    return ModelSpec(
        id=f"hunyuanvideo-1.5-{resolution}-{task}",
        capabilities=frozenset({T2V if task == "t2v" else I2V}),
        params=_params(resolution, task),
        description=f"HunyuanVideo 1.5 {what}, 8.3B, {resolution} ({TARGET_SIZES[resolution]}px size buckets), 121 frames at 24 fps",
        weights=REPOS[resolution, task],
        options={"pipeline": task, "resolution": resolution, "target_size": TARGET_SIZES[resolution]},
    )


#: Every HunyuanVideo 1.5 model wgp knows.  ``options``:
#:   pipeline     "t2v" (HunyuanVideo15Pipeline) or "i2v" (HunyuanVideo15ImageToVideoPipeline)
#:   resolution   "480p" or "720p"
#:   target_size  the transformer config's target_size the checkpoint ships with
HUNYUAN_MODELS: tuple[ModelSpec, ...] = tuple(
    _spec(resolution, task) for resolution in ("480p", "720p") for task in ("t2v", "i2v")
)

HUNYUAN_SPECS = ModelCatalog("HunyuanVideo", HUNYUAN_MODELS)
HUNYUAN_MODEL_IDS = HUNYUAN_SPECS.ids


def get_spec(model_id: str) -> ModelSpec:
    """The spec of ``model_id``; KeyError names the known ids."""
    return HUNYUAN_SPECS[model_id]
