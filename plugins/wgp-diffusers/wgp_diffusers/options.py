"""The plan options every diffusers family shares, registered once by this plugin.

A family takes them by listing :data:`OPTION_GROUP` in ``ModelFamily.option_groups``
(:func:`~wgp_diffusers.define_family` does).  Each option's :class:`~wgp_hookspecs.Param`
owns its choices and default: click offers them, the host validates against them,
and :mod:`wgp_diffusers.diffusion` reads the value from ``plan.options``.
Torch-free: ``wgp --help`` imports this module.
"""

from __future__ import annotations

from collections.abc import Callable

from wgp_hookspecs import Param, PlanOption, hookimpl

from .levers import ATTENTION, CACHES, COMPILE_MODES, QUANTIZE, STORAGE_DTYPES

#: The option group of diffusers families.
OPTION_GROUP = "diffusers"

#: Offload strategies (see :func:`wgp_diffusers.diffusion.apply_offload`).
OFFLOAD_MODES = ("none", "model", "group", "sequential")
#: What ``--offload`` takes: a strategy, or ``auto`` (:mod:`wgp_diffusers.planner` chooses one at load).
OFFLOAD_CHOICES = ("auto", *OFFLOAD_MODES)

#: dtype names a plan may use, with their torch attribute names.
DTYPE_NAMES = {
    "bf16": "bfloat16",
    "fp16": "float16",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "float16": "float16",
    "float32": "float32",
}

PLAN_OPTIONS = (
    PlanOption(
        Param("dtype", "str", "auto", "Compute dtype (auto: the family's safe half type the device runs, bf16 for the first-party families; else fp32).",
              choices=("auto", *DTYPE_NAMES)),
        ("--dtype",),
        OPTION_GROUP,
    ),
    PlanOption(
        Param("offload", "str", "none", "Offloading strategy; auto: the fastest that fits this machine's free memory.",
              choices=OFFLOAD_CHOICES),
        ("--offload",),
        OPTION_GROUP,
    ),
    PlanOption(
        Param("offload_blocks", "int", 1, "Blocks moved together by --offload group (more: fewer transfers, more VRAM).", minimum=1),
        ("--offload-blocks",),
        OPTION_GROUP,
    ),
    PlanOption(
        Param("offload_stream", "bool", None, "Prefetch the next group on a CUDA stream while one runs (default: on with CUDA)."),
        ("--offload-stream/--no-offload-stream",),
        OPTION_GROUP,
    ),
    PlanOption(
        Param("offload_disk", "str", None, "Folder group offload keeps the offloaded weights in (safetensors), instead of RAM."),
        ("--offload-disk",),
        OPTION_GROUP,
    ),
    PlanOption(
        Param("offload_low_cpu_memory", "bool", False, "Group offload pins each group only while it moves, not all at once: less RAM, slower."),
        ("--offload-low-cpu-memory/--no-offload-low-cpu-memory",),
        OPTION_GROUP,
    ),
    PlanOption(
        Param("max_memory", "str", None, "At most this much memory for --offload auto to plan for (VRAM on an accelerator, RAM on a CPU), e.g. 12GiB."),
        ("--max-memory",),
        OPTION_GROUP,
    ),
    PlanOption(
        Param("vae_tiling", "bool", None, "Decode in tiles (default: auto for large frames)."),
        ("--vae-tiling/--no-vae-tiling",),
        OPTION_GROUP,
    ),
    PlanOption(
        Param("cache", "str", "none", "Step cache (diffusers' cache hooks on the transformer): trades a little quality for speed.",
              choices=("none", *CACHES)),
        ("--cache",),
        OPTION_GROUP,
    ),
    PlanOption(
        Param("cache_options", "str", None, "KEY=VALUE for the step cache's diffusers config (e.g. threshold=0.1); repeatable."),
        ("--cache-option",),
        OPTION_GROUP,
        multiple=True,
    ),
    PlanOption(
        Param("attention", "str", "auto", "Attention kernel (diffusers' attention dispatch; auto keeps the model's).",
              choices=tuple(ATTENTION)),
        ("--attention",),
        OPTION_GROUP,
    ),
    PlanOption(
        Param("compile", "str", "none", "torch.compile the transformer: regional (its repeated blocks) or full.",
              choices=COMPILE_MODES),
        ("--compile",),
        OPTION_GROUP,
    ),
    PlanOption(
        Param("storage_dtype", "str", "none", "Store the transformer's weights in fp8, computing in --dtype (layerwise casting).",
              choices=tuple(STORAGE_DTYPES)),
        ("--storage-dtype",),
        OPTION_GROUP,
    ),
    PlanOption(
        Param("quantize", "str", "none", "Quantize the transformer's weights: int8 (torchao, CPU too), int4, fp8 (torchao, CUDA), nf4 (bitsandbytes, CUDA).",
              choices=tuple(QUANTIZE)),
        ("--quantize",),
        OPTION_GROUP,
    ),
    PlanOption(
        Param("transformer_file", "path", None, "Load the transformer from one file: a .gguf (quantized, e.g. Q8_0 or Q4_K; needs wgp-diffusers[gguf]) or a .safetensors, with the model's own config."),
        ("--transformer-file",),
        OPTION_GROUP,
    ),
    PlanOption(
        Param("quantize_text_encoder", "str", "none", "Quantize the text encoder(s), with the same choices as --quantize; "
              "auto: int8 when the auto offload plan is faster with it.",
              choices=(*QUANTIZE, "auto")),
        ("--quantize-text-encoder",),
        OPTION_GROUP,
    ),
)


@hookimpl
def register_plan_options(register: Callable[[PlanOption], None]) -> None:
    for option in PLAN_OPTIONS:
        register(option)
