"""Registers the ``{{ cookiecutter.plugin_name }}`` family: its model ids and parameters, no torch.

``define_family`` makes ``load`` import ``{{ cookiecutter.package }}.pipeline`` and ``build_tiny``
import ``{{ cookiecutter.package }}.tiny`` on first use, so ``wgp --help`` never pays for torch.
"""

from __future__ import annotations

from wgp_diffusers import define_family, registration_hook
from wgp_hookspecs import SEED_PARAM, ModelSpec, Param

#: Every parameter the pipeline call reads: ``DiffusersModel`` and ``standard_kwargs`` read
#: prompt, negative_prompt, seed, width, height, steps, guidance and fps; ``pipeline_kwargs``
#: adds frames.  The defaults are the checkpoint's published ones (LTX-Video 0.9.0's here).
MODEL = ModelSpec(
    id="{{ cookiecutter.plugin_name }}",
    capabilities=frozenset({"text-to-video"}),
    description="Text-to-video with diffusers' LTXPipeline",
    weights="Lightricks/LTX-Video",  # a diffusers-format repo id; --model-path DIR overrides it
    params=(
        Param("prompt", "str", required=True, help="What the video shows."),
        Param("negative_prompt", "str", "worst quality, inconsistent motion, blurry, jittery, distorted",
              help="What to steer away from."),
        SEED_PARAM,
        # The VAE compresses 32x in space and 8x in time: sizes are multiples of 32, frames 8n+1.
        Param("width", "int", 704, minimum=32, maximum=4096, multiple_of=32, help="Frame width in pixels."),
        Param("height", "int", 480, minimum=32, maximum=4096, multiple_of=32, help="Frame height in pixels."),
        Param("frames", "int", 161, minimum=1, maximum=1001, multiple_of=8, remainder=1, help="Number of frames (8n+1)."),
        Param("fps", "int", 25, minimum=1, maximum=240, help="Frames per second (also the model's frame_rate)."),
        Param("steps", "int", 50, minimum=1, maximum=1000, help="Denoising steps."),
        Param("guidance", "float", 3.0, minimum=0.0, maximum=50.0, help="Classifier-free guidance scale (1 turns it off)."),
    ),
)

FAMILY = define_family("{{ cookiecutter.plugin_name }}", "{{ cookiecutter.package }}", (MODEL,),
                       description="{{ cookiecutter.description }}")
register_model_families = registration_hook(FAMILY)
