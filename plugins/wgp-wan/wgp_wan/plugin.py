"""Registers the Wan family with wgp.

Registration must stay cheap (``wgp --help`` calls it): this module imports
only the spec table and the torch-free checks.  ``load`` and ``build_tiny``
import torch and diffusers when they are first called.
"""

from __future__ import annotations


from wgp_diffusers import define_family, registration_hook

from .checks import check
from .specs import WAN_MODELS

WAN_FAMILY = define_family(
    "wan", "wgp_wan", WAN_MODELS, check, "Wan 2.1 and 2.2 text/image/first-last-frame to video (diffusers)"
)
#: ``load(spec, plan)`` and ``build_tiny(spec, folder)``: wgp_wan.pipeline.load and
#: wgp_wan.tiny.build_tiny, imported (with torch and diffusers) on first use.
load, build_tiny = WAN_FAMILY.load, WAN_FAMILY.build_tiny
register_model_families = registration_hook(WAN_FAMILY)
