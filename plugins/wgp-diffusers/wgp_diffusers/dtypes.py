"""What ``--dtype auto`` becomes: a family's safe dtypes against what the device computes in.

Every published recipe of the first-party families runs in bfloat16; in float16 their
activations can overflow, which shows as black or NaN frames.  So a family declares the
dtypes it is safe in (:attr:`wgp_diffusers.DiffusersModel.safe_dtypes`) and ``auto``
chooses among those: :func:`choose_dtype` is a pure function of that declaration and of
the device's capabilities (:class:`DeviceDtypes`), so every decision can be tested on a
machine without the device; :func:`device_dtypes` reads the capabilities (it imports
torch).  float32 is always safe and is the answer wherever no safe half type is there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wgp_hookspecs import UserError

from .options import DTYPE_NAMES

#: What a family that declares nothing is taken to be safe in: any dtype (the behaviour before
#: families declared theirs), so a third-party family keeps what it had.
ANY_DTYPE = ("bf16", "fp16", "fp32")

#: The half types ``auto`` tries on each accelerator kind, best first: bfloat16 on CUDA (the
#: published recipes' dtype), float16 first on MPS (its native half type on every macOS).
#: A CPU always gets float32: half-precision kernels there are slow or missing.
HALF_PREFERENCE = {"cuda": ("bfloat16", "float16"), "mps": ("float16", "bfloat16")}


@dataclass(frozen=True)
class DeviceDtypes:
    """The half types a device computes in natively: ``kind`` is ``cpu``, ``cuda`` or ``mps``;
    ``half`` holds torch names (``bfloat16``, ``float16``).  A T4, a V100 or an RTX 20xx is
    ``DeviceDtypes("cuda", frozenset({"float16"}))``."""

    kind: str
    half: frozenset[str] = frozenset()


def dtype_name(name: str) -> str:
    """The torch name (``bfloat16``, ``float16``, ``float32``) of a dtype name wgp accepts (``bf16``, ...)."""
    text = str(name).strip().lower()
    if text not in DTYPE_NAMES:
        raise UserError(f"dtype: must be auto or one of {', '.join(sorted(DTYPE_NAMES))} (got {name!r})")
    return DTYPE_NAMES[text]


def choose_dtype(safe: Iterable[str], device: DeviceDtypes) -> tuple[str, str | None]:
    """``auto``'s dtype (a torch name) for a model safe in ``safe`` on ``device``, and a note
    when the device has a half type but the model is not safe in it, so float32 is used.

    The first of :data:`HALF_PREFERENCE` for the device's kind that the model is safe in and
    the device computes in; float32 when there is none (always on a CPU).
    """
    allowed = {dtype_name(name) for name in safe}
    for half in HALF_PREFERENCE.get(device.kind, ()):
        if half in allowed and half in device.half:
            return half, None
    if not device.half - allowed:
        return "float32", None  # a CPU, or a device with no half type at all: nothing was given up
    has = ", ".join(sorted(device.half))
    declared = ", ".join(sorted(allowed))
    return "float32", (
        f"dtype auto: float32, because this {device.kind} device computes in {has} only and the model is "
        f"declared safe in {declared} (half types it is not safe in can overflow: black or NaN frames); "
        f"--dtype {'fp16' if 'float16' in device.half else 'bf16'} forces half precision"
    )


def unsafe_note(name: str, safe: Iterable[str]) -> str | None:
    """A warning when an explicit ``--dtype`` is one the model is not declared safe in, else None."""
    chosen = dtype_name(name)
    allowed = {dtype_name(s) for s in safe}
    if chosen in allowed:
        return None
    return (
        f"--dtype {name}: the model is declared safe in {', '.join(sorted(allowed))}; "
        f"in {chosen} it may overflow (black or NaN frames)"
    )


def device_dtypes(device: str) -> DeviceDtypes:
    """The half types ``device`` (``cpu``, ``cuda[:N]``, ``mps``) computes in natively.

    CUDA: float16 always, bfloat16 from compute capability 8.0 (Ampere) on; torch's own
    ``is_bf16_supported()`` also says yes where bfloat16 is only emulated (a T4), which is
    slower than float16 and not what a recipe means by bfloat16.  MPS: float16, and
    bfloat16 where this macOS can hold a bfloat16 tensor on the GPU (macOS 14 and later).
    """
    import torch

    kind, _, index = device.partition(":")
    if kind == "cuda":
        major, _ = torch.cuda.get_device_capability(int(index) if index else None)
        return DeviceDtypes("cuda", frozenset({"float16", "bfloat16"} if major >= 8 else {"float16"}))
    if kind == "mps":
        half = {"float16"}
        try:
            torch.ones(1, dtype=torch.bfloat16, device="mps")
            half.add("bfloat16")
        except (RuntimeError, TypeError):
            pass
        return DeviceDtypes("mps", frozenset(half))
    return DeviceDtypes(kind)


__all__ = ["ANY_DTYPE", "HALF_PREFERENCE", "DeviceDtypes", "choose_dtype", "device_dtypes", "dtype_name", "unsafe_note"]
