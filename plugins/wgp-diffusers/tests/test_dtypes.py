"""``--dtype auto`` picks only among the dtypes a family declares safe: a pure function of that declaration
and the device's capabilities, checked here for every combination, for T4-class GPUs in particular, and
through a real load (an explicit unsafe dtype is warned about)."""

from __future__ import annotations

import itertools

import pytest

from wgp_diffusers import DiffusersModel
from wgp_diffusers.dtypes import ANY_DTYPE, DeviceDtypes, choose_dtype, dtype_name

HALVES = ("bfloat16", "float16")
DEVICES = [DeviceDtypes("cpu")] + [
    DeviceDtypes(kind, frozenset(half))
    for kind in ("cuda", "mps")
    for n in range(len(HALVES) + 1)
    for half in itertools.combinations(HALVES, n)
]
SAFE_SETS = [combo for n in range(1, 4) for combo in itertools.combinations(("bf16", "fp16", "fp32"), n)]
T4 = DeviceDtypes("cuda", frozenset({"float16"}))  # also V100, RTX 20xx: no native bfloat16
AMPERE = DeviceDtypes("cuda", frozenset({"bfloat16", "float16"}))


@pytest.mark.parametrize("safe", SAFE_SETS)
def test_auto_never_picks_a_type_the_family_did_not_declare_safe(safe):
    declared = {dtype_name(s) for s in safe}
    for device in DEVICES:
        chosen, note = choose_dtype(safe, device)
        assert chosen == "float32" or (chosen in declared and chosen in device.half), (safe, device)
        usable = declared & device.half
        # float32 only where no declared half type is there; said so when the device had another one.
        assert (chosen == "float32") == (not usable or device.kind == "cpu"), (safe, device)
        assert bool(note) == (chosen == "float32" and bool(device.half - declared)), (safe, device)


def test_a_t4_runs_a_bf16_only_family_in_float32_and_says_why():
    chosen, note = choose_dtype(("bf16", "fp32"), T4)
    assert chosen == "float32"
    assert "computes in float16 only" in note and "declared safe in bfloat16, float32" in note and "--dtype fp16" in note
    assert choose_dtype(("bf16", "fp32"), AMPERE) == ("bfloat16", None)
    # A family that declares float16 safe still gets it on a T4, as before.
    assert choose_dtype(ANY_DTYPE, T4) == ("float16", None)
    assert choose_dtype(ANY_DTYPE, DeviceDtypes("mps", frozenset(HALVES))) == ("float16", None)
    assert choose_dtype(ANY_DTYPE, DeviceDtypes("cpu")) == ("float32", None)


def test_the_first_party_families_declare_only_bf16_and_fp32():
    from wgp_flux.pipeline import FluxModel
    from wgp_ltx.pipeline import LTXModel
    from wgp_wan.pipeline import WanModel

    assert DiffusersModel.safe_dtypes == ANY_DTYPE  # a family that declares nothing keeps the old choice
    for model in (WanModel, FluxModel, LTXModel):
        assert model.safe_dtypes == ("bf16", "fp32"), model
        assert choose_dtype(model.safe_dtypes, T4)[0] == "float32", model
        assert choose_dtype(model.safe_dtypes, AMPERE)[0] == "bfloat16", model


def test_an_explicit_unsafe_dtype_is_warned_about_when_loading(wgp_tiny_model):
    from wgp_diffusers.testing import load_tiny
    from wgp_wan.plugin import WAN_FAMILY
    from wgp_wan.specs import get_spec

    folder = wgp_tiny_model("wan2.1-t2v-1.3b")
    model = load_tiny(WAN_FAMILY, get_spec("wan2.1-t2v-1.3b"), folder, dtype="fp16")
    assert any(w.startswith("--dtype fp16: the model is declared safe in bfloat16, float32") for w in model.warnings)
    assert model.pipe.transformer.dtype.__str__() == "torch.float16"  # warned, not overridden
    plain = load_tiny(WAN_FAMILY, get_spec("wan2.1-t2v-1.3b"), folder)
    assert not any("declared safe" in w for w in plain.warnings)
