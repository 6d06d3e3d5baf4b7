"""The ``--offload auto`` planner: the fastest offload plan that fits in the memory there is.

:func:`plan_offload` is a pure function over figures (component sizes, free
device memory, free RAM), so every decision can be tested on a machine without
an accelerator and printed before a single weight is read.
:func:`component_sizes` measures a loaded pipeline and :func:`measure_memory`
reads the machine's free memory; both import torch (and psutil) lazily, so
importing this module stays cheap.

The device and host needs below follow what wgp actually does to place a
pipeline (:func:`wgp_diffusers.diffusion.load_pipeline`, then
:func:`wgp_diffusers.diffusion.apply_offload`) and what diffusers 0.42's
offload hooks keep where; each formula is explained in :func:`plan_offload`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

#: Plans from fastest to slowest; :func:`plan_offload` takes the first that fits.
PLAN_ORDER = ("none", "model", "group", "sequential")

#: Components whose name starts with this are text encoders (``text_encoder``, ``text_encoder_2``, ...).
TEXT_ENCODER_PREFIX = "text_encoder"

GIB = 1 << 30

#: Size units ``--max-memory`` takes (binary and decimal, as people write them).
SIZE_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
              "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}


def parse_size(text: str) -> int:
    """``"12GiB"``, ``"800 MB"``, ``"1.5GB"`` -> bytes; ValueError names what is accepted."""
    import re

    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*", str(text))
    unit = match.group(2).upper() if match else ""
    if not match or unit not in SIZE_UNITS:
        raise ValueError(f"expected a size such as 12GiB, 800MB or 1.5GB (units {', '.join(u.replace('I', 'i') for u in SIZE_UNITS)}), got {text!r}")
    value = int(float(match.group(1)) * SIZE_UNITS[unit])
    if value <= 0:
        raise ValueError(f"a size must be above zero, got {text!r}")
    return value


@dataclass(frozen=True)
class ComponentSize:
    """The memory figures of one pipeline component, in bytes at the dtype it will run in.

    ``largest_block_bytes`` is the largest group that block-level group offload
    moves as one unit (an element of a top-level ``ModuleList``); 0 means the
    component has no such blocks (or they are unknown) and group offload moves
    it whole.  ``resident_bytes`` is what group offload keeps on the device for
    the component's whole forward: everything outside those blocks
    (embeddings, norms, heads); it only matters when ``largest_block_bytes`` is
    set, and 0 there means negligible.  ``largest_layer_bytes`` is the largest
    set of tensors one module owns directly (what sequential offload moves at
    once); 0 means unknown and falls back to the block, then the whole.
    """

    name: str
    bytes: int
    largest_block_bytes: int = 0
    largest_layer_bytes: int = 0
    resident_bytes: int = 0

    @property
    def is_text_encoder(self) -> bool:
        return self.name.startswith(TEXT_ENCODER_PREFIX)

    def scaled(self, ratio: float) -> ComponentSize:
        """These figures with every size multiplied by ``ratio`` (a quantized copy)."""
        return replace(
            self,
            bytes=_scale(self.bytes, ratio),
            largest_block_bytes=_scale(self.largest_block_bytes, ratio),
            largest_layer_bytes=_scale(self.largest_layer_bytes, ratio),
            resident_bytes=_scale(self.resident_bytes, ratio),
        )


@dataclass(frozen=True)
class MemoryFigures:
    """Free memory where the pipeline will run: ``device`` is ``cuda[:N]``, ``mps``, ``cpu``, ...

    ``free_device_bytes`` is ``None`` on ``cpu`` (the RAM figure is the device there).
    """

    device: str
    free_device_bytes: int | None
    free_ram_bytes: int


@dataclass(frozen=True)
class OffloadDecision:
    """The chosen plan: ``mode`` is one of :data:`PLAN_ORDER`.

    ``fits`` is ``False`` when even the least demanding plan does not fit
    (``mode`` is then ``sequential`` on an accelerator, ``none`` on the CPU, and
    ``reason`` says what is short).  ``quantize_text_encoder`` is set when the
    plan is only this fast because the text encoder(s) will be quantized.
    ``device_need_bytes`` / ``host_need_bytes`` are the needs of the chosen
    plan, headroom included (``device_need_bytes`` is ``None`` on the CPU).
    """

    mode: str
    reason: str
    fits: bool
    quantize_text_encoder: bool = False
    device_need_bytes: int | None = None
    host_need_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields, for the job record."""
        return asdict(self)


@dataclass(frozen=True)
class _Need:
    mode: str
    device_bytes: int | None  # with headroom; None on cpu
    host_bytes: int  # with headroom
    device_ok: bool
    host_ok: bool
    what: str  # what dominates the device need

    @property
    def ok(self) -> bool:
        return self.device_ok and self.host_ok


def plan_offload(
    components: Sequence[ComponentSize],
    memory: MemoryFigures,
    *,
    activation_bytes: int = 0,
    headroom: float = 0.1,
    allow_text_encoder_quantization: bool = False,
    text_encoder_quantized_ratio: float = 0.5,
    staged_in_ram: bool = True,
    blocks_per_group: int = 1,
    streams: bool | None = None,
) -> OffloadDecision:
    """The fastest of ``none``, ``model``, ``group``, ``sequential`` whose needs fit ``memory``.

    A plan fits when ``(device need + activation_bytes) * (1 + headroom)`` is at
    most the free device memory and ``host need * (1 + headroom)`` at most the
    free RAM.  The headroom covers what the figures leave out (the CUDA
    context, allocator fragmentation, the text encoder's outputs, other
    processes).  Per plan, with ``total`` the sum of all components:

    * ``none``: device ``total``, because every component stays on the device
      for the whole run.
    * ``model`` (``enable_model_cpu_offload``): device = the largest
      component, because its hooks offload the previous component before the
      next one moves over, so only one component is ever on the device.
    * ``group`` (``enable_group_offload``, block level, one block per group):
      device = the largest over components of ``resident + k * block``.
      diffusers onloads the component's parts outside its top-level
      ``ModuleList`` blocks (``resident``) for the whole forward and the blocks
      one group at a time; with CUDA streams (``device`` is ``cuda``, unless
      ``streams`` says otherwise) the next group is prefetched while the current
      one runs, so ``k = 2``, elsewhere ``k = 1``; a group is
      ``blocks_per_group`` blocks (``--offload-blocks``).  A component without blocks (``largest_block_bytes == 0``,
      e.g. a T5 encoder, whose top-level children are not a ``ModuleList``) is
      one group and is onloaded whole.
    * ``sequential`` (``enable_sequential_cpu_offload``): device = the largest
      module's own tensors, because accelerate moves one module's weights at a
      time (the largest is often a text encoder's token embedding).

    Host (RAM) needs: wgp loads every component into RAM before it places the
    pipeline (``from_pretrained`` without a device map, then ``apply_offload``),
    so with ``staged_in_ram`` every plan needs ``total`` in RAM at least at
    load; without it ``none`` needs nothing there.  The offloading plans keep
    every component's weights in RAM while they are not on the device, so they
    need ``total`` either way.  Group offload with streams also makes a pinned
    copy of every streamed block when it is enabled, while the loaded copy
    stays referenced until that block first runs, so with ``staged_in_ram``
    its peak is ``total`` plus the streamed (non-resident) bytes.

    On the CPU the answer is always ``none``, since offloading from the CPU to
    the CPU saves nothing; it fits when ``(total + activation_bytes) *
    (1 + headroom)`` fits in RAM.

    With ``allow_text_encoder_quantization``, the plan is made again with
    every text encoder shrunk to ``text_encoder_quantized_ratio`` of its size;
    that plan is taken (``quantize_text_encoder=True``) only when it fits and
    is faster than the unquantized one (or the unquantized one fits nowhere),
    since quantizing costs some prompt fidelity.
    """
    if headroom < 0:
        raise ValueError(f"headroom must be >= 0 (got {headroom})")
    if not 0 < text_encoder_quantized_ratio <= 1:
        raise ValueError(f"text_encoder_quantized_ratio must be in (0, 1] (got {text_encoder_quantized_ratio})")
    if activation_bytes < 0:
        raise ValueError(f"activation_bytes must be >= 0 (got {activation_bytes})")
    if blocks_per_group < 1:
        raise ValueError(f"blocks_per_group must be >= 1 (got {blocks_per_group})")
    on_cpu = _device_kind(memory.device) == "cpu"
    if not on_cpu and memory.free_device_bytes is None:
        raise ValueError(f"free_device_bytes is needed to plan for {memory.device}")

    def solve(parts: Sequence[ComponentSize]) -> list[_Need]:
        return _needs(parts, memory, activation_bytes, headroom, staged_in_ram, blocks_per_group, streams)

    plain = solve(components)
    chosen, quantized = plain, False
    has_text_encoder = any(c.is_text_encoder for c in components)
    if allow_text_encoder_quantization and has_text_encoder and text_encoder_quantized_ratio < 1:
        shrunk = solve([c.scaled(text_encoder_quantized_ratio) if c.is_text_encoder else c for c in components])
        if _rank(shrunk) < _rank(plain):
            chosen, quantized = shrunk, True
    return _decide(chosen, memory, headroom, quantized, text_encoder_quantized_ratio)


def _needs(
    components: Sequence[ComponentSize],
    memory: MemoryFigures,
    activation_bytes: int,
    headroom: float,
    staged_in_ram: bool,
    blocks_per_group: int = 1,
    streams: bool | None = None,
) -> list[_Need]:
    total = sum(c.bytes for c in components)
    factor = 1.0 + headroom
    ram = memory.free_ram_bytes
    if _device_kind(memory.device) == "cpu":
        host = _with(total + activation_bytes, factor)
        return [_Need("none", None, host, True, host <= ram, "all components and activations in RAM")]

    free = memory.free_device_bytes or 0
    streams = _device_kind(memory.device) == "cuda" if streams is None else streams
    k = (2 if streams else 1) * blocks_per_group
    largest = max(components, key=lambda c: c.bytes, default=None)

    def group_need(c: ComponentSize) -> int:
        if c.largest_block_bytes <= 0:
            return c.bytes
        return min(c.bytes, c.resident_bytes + k * c.largest_block_bytes)

    def layer_need(c: ComponentSize) -> int:
        return c.largest_layer_bytes or c.largest_block_bytes or c.bytes

    group_top = max(components, key=group_need, default=None)
    layer_top = max(components, key=layer_need, default=None)
    streamed = sum(c.bytes - c.resident_bytes for c in components if c.largest_block_bytes > 0)
    staged = total if staged_in_ram else 0

    plans = [
        ("none", total, staged, "all components"),
        ("model", largest.bytes if largest else 0, total, f"largest component {_name(largest)}"),
        (
            "group",
            group_need(group_top) if group_top else 0,
            total + (streamed if streams and staged_in_ram else 0),
            f"{k} block{'s' if k > 1 else ''} of {_name(group_top)}"
            if group_top and group_top.largest_block_bytes > 0
            else f"{_name(group_top)} as one group",
        ),
        (
            "sequential",
            layer_need(layer_top) if layer_top else 0,
            total,
            f"largest layer in {_name(layer_top)}",
        ),
    ]
    out = []
    for mode, weights, host, what in plans:
        dev = _with(weights + activation_bytes, factor)
        hst = _with(host, factor)
        out.append(_Need(mode, dev, hst, dev <= free, hst <= ram, what))
    return out


def _decide(
    needs: list[_Need], memory: MemoryFigures, headroom: float, quantized: bool, ratio: float
) -> OffloadDecision:
    pct = f"{headroom * 100:g}% headroom"
    where = memory.device
    ram = memory.free_ram_bytes
    note = f"; text encoder quantized to {ratio:g}x" if quantized else ""
    winner = next((n for n in needs if n.ok), None)
    if winner is None:
        last = needs[-1]
        short = []
        if not last.device_ok:
            short.append(f"{_gib(last.device_bytes or 0)} on {where} but {_gib(memory.free_device_bytes or 0)} free")
        if not last.host_ok:
            short.append(f"{_gib(last.host_bytes)} of RAM but {_gib(ram)} free")
        reason = f"nothing fits: {last.mode} ({last.what}) needs {' and '.join(short)} (with {pct}){note}"
        return OffloadDecision(last.mode, reason, False, quantized, last.device_bytes, last.host_bytes)

    if winner.device_bytes is None:
        reason = f"{winner.mode} ({winner.what}): needs {_gib(winner.host_bytes)} of {_gib(ram)} free RAM (with {pct})"
    else:
        reason = (
            f"{winner.mode} ({winner.what}): needs {_gib(winner.device_bytes)} of "
            f"{_gib(memory.free_device_bytes or 0)} free on {where} and {_gib(winner.host_bytes)} of "
            f"{_gib(ram)} free RAM (with {pct})"
        )
        rejected = [_why_not(n) for n in needs[: needs.index(winner)]]
        if rejected:
            reason += "; " + ", ".join(rejected)
    return OffloadDecision(winner.mode, reason + note, True, quantized, winner.device_bytes, winner.host_bytes)


def _why_not(need: _Need) -> str:
    parts = []
    if not need.device_ok:
        parts.append(f"{_gib(need.device_bytes or 0)} on device")
    if not need.host_ok:
        parts.append(f"{_gib(need.host_bytes)} of RAM")
    return f"{need.mode} would need {' and '.join(parts)}"


def _rank(needs: list[_Need]) -> int:
    """Index of the first plan that fits, ``len(needs)`` when none does (lower is faster)."""
    return next((i for i, n in enumerate(needs) if n.ok), len(needs))


def _device_kind(device: str) -> str:
    return device.strip().lower().split(":", 1)[0]


def _with(value: int, factor: float) -> int:
    return math.ceil(value * factor)


def _scale(value: int, ratio: float) -> int:
    return math.ceil(value * ratio)


def _name(component: ComponentSize | None) -> str:
    return component.name if component is not None else "nothing"


def _gib(value: int) -> str:
    return f"{value / GIB:.1f} GiB"


# --------------------------------------------------------------------------- measuring


def component_sizes(pipe: Any) -> list[ComponentSize]:
    """The :class:`ComponentSize` of every ``torch.nn.Module`` in ``pipe.components``, in their order.

    Sizes are the bytes of parameters and buffers as they are now (load the
    pipeline in the dtype it will run in; shared tensors count once).  Blocks
    are found the way diffusers' block-level group offload groups them: the
    elements of top-level ``ModuleList``/``Sequential`` children, descending
    into the children named in the model's ``_group_offload_block_modules``;
    ``resident_bytes`` is everything else (counted over every level, an upper
    bound on what is resident at once).  ``largest_layer_bytes`` is the largest
    set of tensors a single module owns directly.  Other components
    (schedulers, tokenizers, ``None``) are skipped.
    """
    import torch

    sizes = []
    for name, module in dict(getattr(pipe, "components", {}) or {}).items():
        if not isinstance(module, torch.nn.Module):
            continue
        total = _tensor_bytes(_tensors(module))
        block_modules = set(getattr(module, "_group_offload_block_modules", None) or ())
        blocks: list[int] = []
        _collect_blocks(module, block_modules, blocks, torch)
        largest_layer = max(
            (_tensor_bytes(_tensors(m, recurse=False)) for m in module.modules()),
            default=0,
        )
        largest_block = max(blocks, default=0)
        resident = total - sum(blocks) if blocks else total
        sizes.append(ComponentSize(name, total, largest_block, largest_layer, max(resident, 0)))
    return sizes


def _collect_blocks(module: Any, block_modules: set[str], blocks: list[int], torch: Any) -> None:
    for child_name, child in module.named_children():
        if child_name in block_modules:
            _collect_blocks(child, block_modules, blocks, torch)
        elif isinstance(child, (torch.nn.ModuleList, torch.nn.Sequential)):
            blocks.extend(_tensor_bytes(_tensors(block)) for block in child)


def _tensors(module: Any, recurse: bool = True) -> list[Any]:
    seen: dict[int, Any] = {}
    for tensor in (*module.parameters(recurse=recurse), *module.buffers(recurse=recurse)):
        seen.setdefault(id(tensor), tensor)
    return list(seen.values())


def _tensor_bytes(tensors: Sequence[Any]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def cap_memory(memory: MemoryFigures, budget: int | None) -> MemoryFigures:
    """``memory`` with what the plan may use capped at ``budget`` bytes (``--max-memory``): the
    device's free memory on an accelerator, the RAM on the CPU (where RAM is the device)."""
    if budget is None:
        return memory
    if memory.free_device_bytes is None:
        return replace(memory, free_ram_bytes=min(memory.free_ram_bytes, budget))
    return replace(memory, free_device_bytes=min(memory.free_device_bytes, budget))


def measure_memory(device: str) -> MemoryFigures:
    """Free memory on ``device`` now and available RAM (psutil's ``available``: free plus reclaimable cache).

    CUDA reports ``torch.cuda.mem_get_info`` (free, which counts other
    processes' use); MPS the recommended working set less what the driver has
    allocated; ``cpu`` has no device figure.
    """
    kind = _device_kind(device)
    free_device: int | None = None
    if kind != "cpu":
        import torch

        if kind == "cuda":
            free_device = int(torch.cuda.mem_get_info(torch.device(device))[0])
        elif kind == "mps":
            free_device = int(torch.mps.recommended_max_memory() - torch.mps.driver_allocated_memory())
        else:
            backend = getattr(torch, kind, None)
            if backend is None or not hasattr(backend, "mem_get_info"):
                raise ValueError(f"cannot measure free memory on {device!r}")
            free_device = int(backend.mem_get_info(torch.device(device))[0])
    return MemoryFigures(device=device, free_device_bytes=free_device, free_ram_bytes=_available_ram())


def _available_ram() -> int:
    try:
        import psutil
    except ImportError:  # psutil is optional: Linux's own figure, then free pages
        try:
            with open("/proc/meminfo", encoding="ascii") as meminfo:
                for line in meminfo:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return int(psutil.virtual_memory().available)
