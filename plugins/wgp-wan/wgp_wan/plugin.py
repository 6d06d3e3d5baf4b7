"""Registers the Wan family with wgp.

Registration must stay cheap (``wgp --help`` calls it): this module imports
only the spec table and the torch-free checks.  ``load`` and ``build_tiny``
import torch and diffusers when they are first called.
"""

from __future__ import annotations

from wgp_hookspecs import Profile

from wgp_diffusers import define_family, registration_hook

from .checks import check
from .specs import WAN_MODELS

#: lightx2v's step- and CFG-distillation LoRA for Wan 2.1 T2V 14B: 4 steps without guidance
#: (lightx2v's step-distillation docs: "4 steps without CFG"); flow shift 8 as in the
#: published diffusers recipes that load this LoRA.  The file goes in the wan LoRA folder.
DISTILL_LORA = "lightx2v_T2V_14B_cfg_step_distill_v2_lora_rank256_bf16"
DISTILL_PROFILE = Profile(
    "distill4",
    f"4-step step-distillation: needs the LoRA {DISTILL_LORA}.safetensors in the wan LoRA folder",
    models=("wan2.1-t2v-14b",),
    params={"steps": 4, "guidance": 1.0, "flow_shift": 8.0},
    adapters={"lora": [f"{DISTILL_LORA}:1.0"]},
    source="lightx2v step distillation (4 steps, no CFG); flow shift 8 from its diffusers usage",
)

WAN_FAMILY = define_family(
    "wan", "wgp_wan", WAN_MODELS, check, "Wan 2.1 and 2.2 text/image/first-last-frame to video, VACE and Animate (diffusers)",
    profiles=(DISTILL_PROFILE,),
)
#: ``load(spec, plan)`` and ``build_tiny(spec, folder)``: wgp_wan.pipeline.load and
#: wgp_wan.tiny.build_tiny, imported (with torch and diffusers) on first use.
load, build_tiny = WAN_FAMILY.load, WAN_FAMILY.build_tiny
register_model_families = registration_hook(WAN_FAMILY)
