"""wgp_diffusers.planner: the ``--offload auto`` plan from component sizes and free memory."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from wgp_diffusers.planner import (
    GIB,
    ComponentSize,
    MemoryFigures,
    OffloadDecision,
    component_sizes,
    measure_memory,
    plan_offload,
)
from wgp_host.testing import heavy_imports


def g(gib: float) -> int:
    return int(gib * GIB)


# Wan 2.1 T2V 1.3B-like, bf16: 30 small transformer blocks; umt5-xxl encoder (5.7B params) whose
# top-level children are not a ModuleList, so group offload moves it whole; its largest layer is
# the 256k x 4096 token embedding.
WAN_1_3B = [
    ComponentSize(
        "transformer", g(2.8), largest_block_bytes=g(0.09), largest_layer_bytes=g(0.02), resident_bytes=g(0.05)
    ),
    ComponentSize("text_encoder", g(10.6), largest_layer_bytes=g(1.96)),
    ComponentSize("vae", g(0.25), largest_layer_bytes=g(0.01)),
]
# Wan 14B-like: 40 blocks of 0.7 GiB, a 5120 x 13824 FFN as the largest layer.
WAN_14B = [
    ComponentSize(
        "transformer", g(28), largest_block_bytes=g(0.7), largest_layer_bytes=g(0.13), resident_bytes=g(0.25)
    ),
    *WAN_1_3B[1:],
]
# The same with a text encoder that group offload can split into blocks (0.36 GiB each, 2 GiB outside).
BLOCKED_TE = ComponentSize(
    "text_encoder", g(10.6), largest_block_bytes=g(0.36), largest_layer_bytes=g(1.96), resident_bytes=g(2.0)
)
WAN_14B_BLOCKED_TE = [WAN_14B[0], BLOCKED_TE, WAN_14B[2]]
# Huge blocks: two of them do not fit a 4 GiB card with streams.
BIG_BLOCKS = [
    ComponentSize("transformer", g(28), largest_block_bytes=g(3), largest_layer_bytes=g(0.5), resident_bytes=g(0.25)),
    BLOCKED_TE,
    WAN_14B[2],
]


def cuda(free_gib: float, ram_gib: float = 64) -> MemoryFigures:
    return MemoryFigures("cuda", g(free_gib), g(ram_gib))


ROWS = [
    # id, components, memory, keyword arguments, expected mode, fits, quantize_text_encoder
    ("cpu", WAN_1_3B, MemoryFigures("cpu", None, g(64)), {}, "none", True, False),
    ("cpu-ram-short", WAN_1_3B, MemoryFigures("cpu", None, g(8)), {}, "none", False, False),
    ("1.3b-24g-all-fit", WAN_1_3B, cuda(24), {}, "none", True, False),
    ("1.3b-12g-model", WAN_1_3B, cuda(12), {}, "model", True, False),
    # The 10.6 GiB encoder is a single group, so group needs as much as model: only sequential is left.
    ("1.3b-11g-sequential", WAN_1_3B, cuda(11), {}, "sequential", True, False),
    ("1.3b-11g-quantized-te-none", WAN_1_3B, cuda(11), {"allow_text_encoder_quantization": True},
     "none", True, True),
    ("1.3b-24g-no-quantization-needed", WAN_1_3B, cuda(24), {"allow_text_encoder_quantization": True},
     "none", True, False),
    ("14b-24g-group", WAN_14B, cuda(24, ram_gib=128), {}, "group", True, False),
    # Streams pin a copy of every block while the loaded copy lives: 66.6 GiB (+10%) > 64 GiB RAM.
    ("14b-24g-pinned-copy-too-big", WAN_14B, cuda(24, ram_gib=64), {}, "sequential", True, False),
    ("14b-24g-not-staged", WAN_14B, cuda(24, ram_gib=64), {"staged_in_ram": False}, "group", True, False),
    ("14b-8g-blocks-0.7-group", WAN_14B_BLOCKED_TE, cuda(8, ram_gib=128), {}, "group", True, False),
    ("14b-8g-whole-te-sequential", WAN_14B, cuda(8, ram_gib=128), {}, "sequential", True, False),
    ("14b-8g-quantized-te-group", WAN_14B, cuda(8, ram_gib=128), {"allow_text_encoder_quantization": True},
     "group", True, True),
    ("4g-blocks-3-sequential", BIG_BLOCKS, cuda(4, ram_gib=128), {}, "sequential", True, False),
    # No streams on MPS: one block at a time, so the same figures fit group there.
    ("mps-4g-blocks-3-group", BIG_BLOCKS, MemoryFigures("mps", g(4), g(128)), {}, "group", True, False),
    ("ram-short", WAN_1_3B, cuda(24, ram_gib=8), {}, "sequential", False, False),
    ("device-short", WAN_1_3B, cuda(1), {}, "sequential", False, False),
    # 13.65 GiB in all: x1.10 = 15.0 GiB does not fit 14.5 GiB, x1.05 = 14.3 GiB does.
    ("headroom-10pct-model", WAN_1_3B, cuda(14.5), {"headroom": 0.1}, "model", True, False),
    ("headroom-5pct-none", WAN_1_3B, cuda(14.5), {"headroom": 0.05}, "none", True, False),
    ("activations-push-to-model", WAN_1_3B, cuda(24), {"activation_bytes": g(10)}, "model", True, False),
]


@pytest.mark.parametrize(
    ("components", "memory", "kwargs", "mode", "fits", "quantize"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS],
)
def test_plan_offload(components, memory, kwargs, mode, fits, quantize):
    decision = plan_offload(components, memory, **kwargs)
    assert (decision.mode, decision.fits, decision.quantize_text_encoder) == (mode, fits, quantize), decision.reason
    assert re.search(r"\d+\.\d GiB", decision.reason)
    assert decision.reason.startswith(mode if fits else "nothing fits")
    if memory.device == "cpu":
        assert decision.device_need_bytes is None
    else:
        assert decision.device_need_bytes is not None
        within = decision.device_need_bytes <= memory.free_device_bytes
        assert (within and decision.host_need_bytes <= memory.free_ram_bytes) == fits


def test_reason_names_the_numbers_and_the_rejected_plans():
    decision = plan_offload(WAN_1_3B, cuda(12))
    assert decision.reason == (
        "model (largest component text_encoder): needs 11.7 GiB of 12.0 GiB free on cuda and "
        "15.0 GiB of 64.0 GiB free RAM (with 10% headroom); none would need 15.0 GiB on device"
    )
    assert decision.device_need_bytes == pytest.approx(g(10.6) * 1.1, abs=1)

    group = plan_offload(WAN_14B, cuda(24, ram_gib=64), staged_in_ram=True)
    assert "group would need 73.3 GiB of RAM" in group.reason
    assert "model would need 30.8 GiB on device" in group.reason


def test_reason_says_what_is_short():
    ram = plan_offload(WAN_1_3B, cuda(24, ram_gib=8))
    assert ram.reason == (
        "nothing fits: sequential (largest layer in text_encoder) needs 15.0 GiB of RAM but 8.0 GiB free "
        "(with 10% headroom)"
    )
    device = plan_offload(WAN_1_3B, cuda(1))
    assert "needs 2.2 GiB on cuda but 1.0 GiB free" in device.reason
    cpu = plan_offload(WAN_1_3B, MemoryFigures("cpu", None, g(8)))
    assert "15.0 GiB of RAM but 8.0 GiB free" in cpu.reason


def test_quantization_is_named_and_only_taken_when_faster():
    quantized = plan_offload(WAN_14B, cuda(8, ram_gib=128), allow_text_encoder_quantization=True)
    assert quantized.reason.endswith("text encoder quantized to 0.5x")
    assert "group (text_encoder as one group): needs 5.8 GiB" in quantized.reason
    # Quantizing does not make anything fit when RAM is short even for the quantized total.
    short = plan_offload(WAN_1_3B, cuda(24, ram_gib=2), allow_text_encoder_quantization=True)
    assert (short.fits, short.quantize_text_encoder) == (False, False)
    # ...but it may rescue a plan that fits nowhere unquantized.
    rescued = plan_offload(WAN_1_3B, cuda(24, ram_gib=12), allow_text_encoder_quantization=True)
    assert (rescued.mode, rescued.fits, rescued.quantize_text_encoder) == ("none", True, True)
    # A pipeline without a text encoder is never "quantized".
    no_te = plan_offload(WAN_1_3B[::2], cuda(1), allow_text_encoder_quantization=True)
    assert no_te.quantize_text_encoder is False
    # A smaller ratio shrinks further: 2.8 + 10.6 * 0.25 + 0.25 = 5.7 GiB (+10%) fits 7 GiB.
    quarter = plan_offload(WAN_1_3B, cuda(7), allow_text_encoder_quantization=True, text_encoder_quantized_ratio=0.25)
    assert (quarter.mode, quarter.quantize_text_encoder) == ("none", True)


def test_text_encoder_prefix_covers_every_encoder():
    parts = [
        ComponentSize("transformer", g(3)),
        ComponentSize("text_encoder", g(4)),
        ComponentSize("text_encoder_2", g(4)),
    ]
    # 11 GiB (+10%) > 10; quantizing both encoders gives 7 GiB (+10%) = 7.7 GiB.
    assert plan_offload(parts, cuda(10)).mode == "model"
    decision = plan_offload(parts, cuda(10), allow_text_encoder_quantization=True)
    assert (decision.mode, decision.quantize_text_encoder) == ("none", True)


def test_to_dict_is_plain_and_complete():
    decision = plan_offload(WAN_1_3B, cuda(24))
    data = decision.to_dict()
    assert data == {
        "mode": "none",
        "reason": decision.reason,
        "fits": True,
        "quantize_text_encoder": False,
        "device_need_bytes": decision.device_need_bytes,
        "host_need_bytes": decision.host_need_bytes,
    }
    assert OffloadDecision(**data) == decision


def test_bad_figures_are_refused():
    with pytest.raises(ValueError, match="headroom"):
        plan_offload(WAN_1_3B, cuda(24), headroom=-0.1)
    with pytest.raises(ValueError, match="ratio"):
        plan_offload(WAN_1_3B, cuda(24), text_encoder_quantized_ratio=0)
    with pytest.raises(ValueError, match="activation_bytes"):
        plan_offload(WAN_1_3B, cuda(24), activation_bytes=-1)
    with pytest.raises(ValueError, match="free_device_bytes"):
        plan_offload(WAN_1_3B, MemoryFigures("cuda:0", None, g(64)))


def test_unknown_sizes_are_taken_whole():
    # No block and no layer figure: group and sequential both move the 6 GiB component whole.
    parts = [ComponentSize("transformer", g(6)), ComponentSize("vae", g(0.5))]
    assert plan_offload(parts, cuda(6)).fits is False
    assert plan_offload(parts, cuda(7)).mode == "model"


def test_component_sizes_measures_a_real_module():
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.blocks = torch.nn.ModuleList(torch.nn.Linear(4, 4) for _ in range(3))  # 20 floats each
            self.proj = torch.nn.Linear(4, 8)  # 40 floats
            self.register_buffer("scale", torch.ones(2))  # 2 floats

    vae = torch.nn.Linear(2, 2, dtype=torch.bfloat16)  # 6 bf16 values
    pipe = SimpleNamespace(
        components={"transformer": Net(), "scheduler": object(), "tokenizer": None, "vae": vae},
    )
    assert component_sizes(pipe) == [
        ComponentSize("transformer", bytes=408, largest_block_bytes=80, largest_layer_bytes=160, resident_bytes=168),
        ComponentSize("vae", bytes=12, largest_block_bytes=0, largest_layer_bytes=12, resident_bytes=12),
    ]
    # On the CPU the measured figures plan "none".
    assert plan_offload(component_sizes(pipe), measure_memory("cpu")).mode == "none"


def test_component_sizes_follows_group_offload_block_modules_and_shared_weights():
    import torch

    class Decoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.up = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 2))  # 72 and 18 floats
            self.norm = torch.nn.LayerNorm(8)  # 16 floats

    class Vae(torch.nn.Module):
        _group_offload_block_modules = ["decoder"]

        def __init__(self) -> None:
            super().__init__()
            self.decoder = Decoder()
            self.quant = torch.nn.Linear(2, 2, bias=False)  # 4 floats
            self.post_quant = torch.nn.Linear(2, 2, bias=False)
            self.post_quant.weight = self.quant.weight  # shared: counted once

    class Encoder(torch.nn.Module):  # a T5-like encoder: its blocks sit one level down
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(10, 4)  # 40 floats
            self.stack = torch.nn.Module()
            self.stack.block = torch.nn.ModuleList(torch.nn.Linear(4, 4) for _ in range(2))

    te, vae = component_sizes(SimpleNamespace(components={"text_encoder": Encoder(), "vae": Vae()}))
    # The encoder's ModuleList is not a top-level child, so group offload moves it whole: no blocks.
    assert te == ComponentSize(
        "text_encoder", bytes=(40 + 40) * 4, largest_block_bytes=0, largest_layer_bytes=160, resident_bytes=320
    )
    # The decoder is a block module: its Sequential's elements are blocks, its norm and the quant layers resident.
    assert vae == ComponentSize(
        "vae", bytes=(72 + 18 + 16 + 4) * 4, largest_block_bytes=288, largest_layer_bytes=288, resident_bytes=80
    )


def test_measure_memory_on_cpu():
    figures = measure_memory("cpu")
    assert figures.device == "cpu"
    assert figures.free_device_bytes is None
    assert figures.free_ram_bytes > 0


def test_import_is_torch_free():
    assert heavy_imports("wgp_diffusers.planner") == []
