"""Registers the Wan family with wgp.

Registration must stay cheap (``wgp --help`` calls it): this module imports
only the spec table and the torch-free checks.  ``load`` and ``build_tiny``
import torch and diffusers when they are first called.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from wgp_hookspecs import LoadPlan, ModelFamily, ModelSpec, hookimpl

from .checks import check
from .specs import WAN_MODELS

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .pipeline import WanModel


def load(spec: ModelSpec, plan: LoadPlan) -> WanModel:
    """Load a Wan model (imports torch and diffusers on first use)."""
    from .pipeline import load as load_wan

    return load_wan(spec, plan)


def build_tiny(spec: ModelSpec, folder: str | os.PathLike[str]) -> None:
    """Write a random-weight copy of ``spec`` to ``folder`` (imports torch on first use)."""
    from .tiny import build_tiny as build

    build(spec, folder)


WAN_FAMILY = ModelFamily(
    name="wan",
    models=WAN_MODELS,
    load=load,
    build_tiny=build_tiny,
    check=check,
    description="Wan 2.1 and 2.2 text/image/first-last-frame to video (diffusers)",
)


@hookimpl
def register_model_families(register: Callable[[ModelFamily], None]) -> None:
    register(WAN_FAMILY)
