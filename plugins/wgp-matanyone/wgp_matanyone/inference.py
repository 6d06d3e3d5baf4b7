"""The per-frame controller (§13) and the video protocol (§14) of MatAnyone.

State lives in :class:`MattingSession`: the sensory state, a working memory of the
permanent frame plus at most ``max_mem_frames - 1`` rolling frames (fixed size, so
memory stays bounded on long videos), the object memory (16 x 257 running sums), and
the previous step's alpha, pixel feature and value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .morphology import preprocess_mask


class EmptyMaskError(ValueError):
    """The frame-0 mask selects no pixel, so there is no object to matte."""


@dataclass(frozen=True)
class MemorySettings:
    """The evaluation settings of §2."""

    mem_every: int = 5
    stagger_updates: int = 5
    top_k: int = 30
    max_mem_frames: int = 5

    def stagger_set(self) -> set[int]:
        if self.stagger_updates >= self.mem_every:
            return set(range(1, self.mem_every + 1))
        return {int(v) for v in np.round(np.linspace(1, self.mem_every, self.stagger_updates))}


def padding(n: int, multiple: int = 16) -> tuple[int, int]:
    """(before, after) zero padding that makes ``n`` a multiple of 16 (§5.1)."""
    total = (multiple - n % multiple) % multiple
    return total // 2, total - total // 2


def read_memory(
    query: torch.Tensor, selection: torch.Tensor, keys: torch.Tensor, shrinkage: torch.Tensor, values: torch.Tensor, top_k: int
) -> torch.Tensor:
    """Anisotropic-L2 top-k readout (§7): query/selection 64xP, keys 64xN, shrinkage N, values 256xN -> 256xP.

    Deviations, both deliberate: ``k = min(top_k, N)`` (upstream raises when N < 30, i.e.
    tiny frames), and a pixel whose 30 exponentials all underflow to 0 (upstream: NaN)
    gets a max-subtracted softmax instead.  Elsewhere the numbers are upstream's.
    """
    t1 = (keys * keys).t() @ selection
    t2 = 2 * (keys.t() @ (query * selection))
    t3 = (selection * query * query).sum(0, keepdim=True)
    sim = ((-t1 + t2) - t3) * shrinkage[:, None] / 8
    top, index = sim.topk(min(top_k, sim.shape[0]), dim=0)
    weights = top.exp()
    total = weights.sum(0, keepdim=True)
    bad = ~(total > 0) | ~torch.isfinite(total)
    if bool(bad.any()):
        stable = torch.softmax(top, dim=0)
        weights = torch.where(bad, stable, weights / total)
    else:
        weights = weights / total
    affinity = torch.zeros_like(sim).scatter_(0, index, weights)
    return values @ affinity


class MattingSession:
    """Runs mask steps, first-frame predictions and normal steps over one video."""

    def __init__(self, net: Any, settings: MemorySettings | None = None) -> None:
        self.net = net
        self.settings = settings or MemorySettings()
        self.stagger = self.settings.stagger_set()
        self.t, self.t_mem = -1, 0
        self.sensory: torch.Tensor | None = None
        self.keys: torch.Tensor | None = None  # 64 x N
        self.shrinkage: torch.Tensor | None = None  # N
        self.values: torch.Tensor | None = None  # 256 x N
        self.permanent = 0  # tokens in the permanent prefix
        self.summaries: torch.Tensor | None = None  # 1 x 16 x 257
        self.prev_alpha: torch.Tensor | None = None
        self.prev_pix: torch.Tensor | None = None
        self.prev_value: torch.Tensor | None = None
        self.pad: tuple[int, int, int, int] | None = None
        self.size: tuple[int, int] | None = None

    # ------------------------------------------------------------------ helpers

    @property
    def device(self) -> torch.device:
        return self.net.pixel_mean.device

    @property
    def dtype(self) -> torch.dtype:
        return self.net.pixel_mean.dtype

    def prepare(self, frame: np.ndarray) -> torch.Tensor:
        """uint8 HxWx3 RGB -> normalised, zero-padded (in [0,1] space) 1x3xHxW tensor."""
        h0, w0 = frame.shape[:2]
        if self.size is None:
            (top, bottom), (left, right) = padding(h0), padding(w0)
            self.size, self.pad = (h0, w0), (left, right, top, bottom)
        elif (h0, w0) != self.size:
            raise ValueError(f"frame is {w0}x{h0}, the video started at {self.size[1]}x{self.size[0]}")
        image = torch.from_numpy(np.ascontiguousarray(frame)).to(self.device).permute(2, 0, 1).to(self.dtype) / 255
        image = F.pad(image.unsqueeze(0), self.pad)
        return self.net.normalise(image)

    def pad_mask(self, mask: np.ndarray) -> torch.Tensor:
        m = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32)).to(self.device, self.dtype)[None, None] / 255
        assert self.pad is not None
        return F.pad(m, self.pad)

    def crop(self, alpha: torch.Tensor) -> np.ndarray:
        assert self.pad is not None and self.size is not None
        left, _, top, _ = self.pad
        h0, w0 = self.size
        return alpha[0, 0, top : top + h0, left : left + w0].detach().float().cpu().numpy()

    @property
    def memory_tokens(self) -> int:
        return 0 if self.keys is None else int(self.keys.shape[1])

    def _clear_memory(self) -> None:
        self.keys = self.shrinkage = self.values = self.summaries = None
        self.permanent = 0

    def _write_memory(self, image: torch.Tensor, enc: dict[str, Any], alpha: torch.Tensor) -> None:
        """Memory write (§13.2): deep update, object summary, working memory with FIFO."""
        if self.sensory is None:
            self.sensory = torch.zeros_like(enc["pix"])
        value, self.sensory, summary = self.net.encode_value(image, enc["pix"], self.sensory, alpha, True, True)
        self.summaries = summary if self.summaries is None else self.summaries + summary
        key, shrink, val = enc["key"].flatten(2)[0], enc["shrinkage"].flatten()[None], value.flatten(2)[0]
        if self.keys is None:
            self.keys, self.shrinkage, self.values = key, shrink[0], val
            self.permanent = key.shape[1]
        else:
            assert self.shrinkage is not None and self.values is not None
            keep = max(1, self.settings.max_mem_frames - 1) * key.shape[1]
            p = self.permanent
            self.keys = torch.cat([self.keys[:, :p], torch.cat([self.keys[:, p:], key], 1)[:, -keep:]], 1)
            self.shrinkage = torch.cat([self.shrinkage[:p], torch.cat([self.shrinkage[p:], shrink[0]])[-keep:]])
            self.values = torch.cat([self.values[:, :p], torch.cat([self.values[:, p:], val], 1)[:, -keep:]], 1)
        self.t_mem = self.t
        self.prev_value = value

    # ------------------------------------------------------------------ the three kinds of step

    def mask_step(self, frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(A): encode, take the mask as the alpha, write it to memory (permanent)."""
        self.t += 1
        image = self.prepare(frame)
        enc = self.net.encode_image(image)
        m = self.pad_mask(mask)
        self.prev_alpha, self.prev_pix = m, enc["pix"]
        self._write_memory(image, enc, m)
        return self.crop(m)

    def first_frame_step(self, frame: np.ndarray) -> np.ndarray:
        """(B): predict from the previous value without memory attention, then restart memory."""
        if self.prev_value is None or self.sensory is None or self.summaries is None:
            raise RuntimeError("a first-frame prediction needs a mask step first")
        self.t, self.t_mem = 0, 0  # memory restarts at this frame
        image = self.prepare(frame)
        enc = self.net.encode_image(image)
        logit, self.sensory = self.net.predict(enc, self.prev_value, self.sensory, self.prev_alpha, self.summaries, True)
        alpha = logit.clamp(0, 1)
        self.prev_alpha, self.prev_pix = alpha, enc["pix"]
        self._clear_memory()
        self._write_memory(image, enc, alpha)
        return self.crop(alpha)

    def normal_step(self, frame: np.ndarray) -> np.ndarray:
        """(C): memory read, uncertainty blend, predict, then memory write or value only."""
        if self.keys is None or self.prev_value is None or self.sensory is None:
            raise RuntimeError("a normal step needs a first-frame prediction first")
        self.t += 1
        gap = self.t - self.t_mem
        is_memory, update_sensory = gap >= self.settings.mem_every, gap in self.stagger
        image = self.prepare(frame)
        enc = self.net.encode_image(image)
        h, w = enc["pix"].shape[-2:]
        readout = read_memory(enc["key"].flatten(2)[0], enc["selection"].flatten(2)[0], self.keys, self.shrinkage,
                              self.values, self.settings.top_k).reshape(1, -1, h, w)
        blended = self.net.uncertainty_blend(readout, self.prev_value, self.prev_pix, enc["pix"], self.prev_alpha)
        logit, sensory = self.net.predict(enc, blended, self.sensory, self.prev_alpha, self.summaries, update_sensory)
        if update_sensory:
            self.sensory = sensory
        alpha = logit.clamp(0, 1)
        self.prev_alpha, self.prev_pix = alpha, enc["pix"]
        if is_memory:
            self._write_memory(image, enc, alpha)
        else:
            self.prev_value = self.net.encode_value(image, enc["pix"], self.sensory, alpha, False, False)[0]
        return self.crop(alpha)


def matte_steps(
    net: Any,
    frames: Iterable[np.ndarray],
    mask: np.ndarray,
    *,
    warmup: int = 10,
    erode: int = 10,
    dilate: int = 10,
    settings: MemorySettings | None = None,
) -> Iterator[tuple[bool, np.ndarray]]:
    """Yield ``(is_warmup, alpha)`` per step of the video protocol (§14), one frame at a time.

    Frames are consumed lazily, so a long video never has to be in memory at once.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be a single-channel HxW array, got shape {mask.shape}")
    if not mask.any():
        raise EmptyMaskError("the mask selects nothing (every pixel is 0)")
    processed = preprocess_mask(mask, dilate=dilate, erode=erode)
    if not processed.any():
        raise EmptyMaskError("the mask selects nothing after erosion")
    iterator = iter(frames)
    try:
        first = np.asarray(next(iterator))
    except StopIteration:
        raise ValueError("no frames to matte") from None
    if first.ndim != 3 or first.shape[2] != 3 or first.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 HxWx3 RGB, got {first.dtype} {first.shape}")
    if first.shape[:2] != mask.shape:
        raise ValueError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the frames are {first.shape[1]}x{first.shape[0]}")
    session = MattingSession(net, settings)
    with torch.inference_mode():  # never held across a yield: the caller runs outside it
        session.mask_step(first, processed)
    for step in range(warmup + 1):
        with torch.inference_mode():
            alpha = session.first_frame_step(first)
        yield step < warmup, alpha
    for frame in iterator:
        with torch.inference_mode():
            alpha = session.normal_step(np.asarray(frame))
        yield False, alpha


def matte(
    net: Any,
    frames: Iterable[np.ndarray],
    mask: np.ndarray,
    *,
    warmup: int = 10,
    erode: int = 10,
    dilate: int = 10,
    return_warmup: bool = False,
    on_frame: Callable[[int, int], None] | None = None,
    check: Callable[[], None] | None = None,
    total: int | None = None,
) -> Any:
    """Float32 alpha ``[T,H,W]`` in 0..1 for uint8 RGB frames ``[T,H,W,3]`` (any size) and the
    uint8 frame-0 mask ``[H,W]`` (0/255).

    ``warmup`` first-frame predictions on frame 0 come first; ``erode``/``dilate`` are the
    kernel sizes of the mask preprocessing (0 = off).  ``on_frame(i, total)`` is called after
    each real frame (``i`` from 1; ``total`` is ``len(frames)`` or the ``total`` given);
    ``check()`` runs before every step and may raise to stop (e.g. a cancel).  With
    ``return_warmup`` the result is ``(alpha, warmup_alpha)``.  An empty mask raises
    :class:`EmptyMaskError`.
    """
    if total is None and hasattr(frames, "__len__"):
        total = len(frames)  # type: ignore[arg-type]
    real: list[np.ndarray] = []
    warm: list[np.ndarray] = []
    steps = matte_steps(net, frames, mask, warmup=warmup, erode=erode, dilate=dilate)
    while True:
        if check is not None:
            check()
        try:
            is_warmup, alpha = next(steps)
        except StopIteration:
            break
        (warm if is_warmup else real).append(alpha)
        if not is_warmup and on_frame is not None:
            on_frame(len(real), int(total or len(real)))
    shape = real[0].shape
    out = np.stack(real).astype(np.float32, copy=False)
    if return_warmup:
        return out, (np.stack(warm) if warm else np.zeros((0, *shape), np.float32))
    return out
