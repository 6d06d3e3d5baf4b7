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

from . import diffusion
from .diffusion import (
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
from .family import (
    ASPECT_TOLERANCE,
    STANDARD_PROFILES,
    DiffusersModel,
    aspect_warning,
    deferred,
    define_family,
    image_size,
    registration_hook,
    standard_kwargs,
)
from .options import DTYPE_NAMES, OFFLOAD_MODES, OPTION_GROUP, PLAN_OPTIONS

__version__ = "0.1.0"

__all__ = [
    "ASPECT_TOLERANCE",
    "DTYPE_NAMES",
    "OFFLOAD_MODES",
    "OPTION_GROUP",
    "PLAN_OPTIONS",
    "STANDARD_PROFILES",
    "DiffusersModel",
    "aspect_warning",
    "deferred",
    "define_family",
    "diffusion",
    "hub_offline",
    "image_size",
    "load_images",
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
