"""wgp-diffusers: the shared layer for model families built on diffusers.

A diffusers family subclasses :class:`DiffusersModel` (load, generate, unload,
written once), registers itself with :func:`define_family` and
:func:`registration_hook`, and builds its random-weight test model with the
helpers of :mod:`wgp_diffusers.tiny`.  The weights, device-plan and output
helpers are in :mod:`wgp_diffusers.diffusion`; test helpers in
:mod:`wgp_diffusers.testing`.  This distribution is also a plugin: it registers
the plan options every diffusers family shares (``--dtype``, ``--offload``,
``--vae-tiling``), for every family that lists :data:`OPTION_GROUP`.

Importing this package is cheap (no torch, diffusers or PIL): registration code
may import it.  The public API is ``__all__``, documented in
docs/diffusers-families.md.
"""

from __future__ import annotations

import logging as _logging

# With torchao installed (the [torchao] extra), importing diffusers logs about CUDA kernels a CPU
# build cannot load, torch's pytree about torchao's enums and diffusers about torchao tensor
# types: none of it is actionable by a wgp user, and it would print on every run.
for _name in ("torchao", "torch.utils._pytree", "diffusers.quantizers.torchao.torchao_quantizer"):
    _logging.getLogger(_name).setLevel(_logging.ERROR)

from . import diffusion  # noqa: E402
from .diffusion import (  # noqa: E402
    hub_offline,
    load_images,
    resolve_device,
    resolve_dtype,
    resolve_weights,
    seeded_generator,
    step_callback,
    to_uint8_images,
    to_uint8_video,
    validate_plan,
    weights_revision,
)
from .family import (  # noqa: E402
    STANDARD_PROFILES,
    DiffusersModel,
    deferred,
    define_family,
    image_size,
    registration_hook,
    standard_kwargs,
)
from .sizing import SizeRule, crop_box, fit_size, prepare_image  # noqa: E402
from .modular import ModularDiffusersModel, audio_track, define_modular_family  # noqa: E402
from .options import DTYPE_NAMES, OFFLOAD_MODES, OPTION_GROUP, PLAN_OPTIONS  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "DTYPE_NAMES",
    "OFFLOAD_MODES",
    "OPTION_GROUP",
    "PLAN_OPTIONS",
    "STANDARD_PROFILES",
    "DiffusersModel",
    "ModularDiffusersModel",
    "SizeRule",
    "audio_track",
    "crop_box",
    "deferred",
    "define_family",
    "define_modular_family",
    "diffusion",
    "fit_size",
    "hub_offline",
    "image_size",
    "load_images",
    "prepare_image",
    "registration_hook",
    "resolve_device",
    "resolve_dtype",
    "resolve_weights",
    "seeded_generator",
    "standard_kwargs",
    "step_callback",
    "to_uint8_images",
    "to_uint8_video",
    "validate_plan",
    "weights_revision",
]
