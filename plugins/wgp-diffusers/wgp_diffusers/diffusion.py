"""Shared diffusers support for model families: weights, device plan, offload, steps, frames.

Every diffusers-based family (Wan, Flux, LTX, ...) needs the same few decisions
made the same way, so they live here once and know no model:

* where the weights are (:func:`resolve_weights`) and loading them safely
  (:func:`load_pipeline`: safetensors only, clear errors when offline);
* the device plan: :func:`validate_plan` refuses impossible plans before any
  weight is read, :func:`resolve_device` / :func:`resolve_dtype` turn ``auto``
  into concrete choices, :func:`apply_offload` and :func:`apply_vae_tiling`
  put the loaded pipeline where the plan says;
* running: :func:`load_images` opens a request's conditioning images the way a
  diffusers user does, :func:`step_callback` bridges diffusers'
  ``callback_on_step_end`` to the job's progress and cancel token,
  :func:`seeded_generator` makes seeds reproducible, :func:`to_uint8_video` and
  :func:`to_uint8_images` convert the pipeline's float output to the uint8
  frames and images every writer expects;
* :func:`release_pipeline` gives the memory back when the runner evicts a model.

The loaded-model class that strings these together for a family is
:class:`wgp_diffusers.DiffusersModel`; random-weight test models are built
with :mod:`wgp_diffusers.tiny`.

Importing this module is cheap: torch, diffusers and huggingface_hub are
imported inside the functions that need them, so registration code may import
it without slowing ``wgp --help``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wgp_hookspecs import GenerationContext, LoadPlan, UserError

from .dtypes import ANY_DTYPE, choose_dtype, device_dtypes, dtype_name, unsafe_note
from .options import OFFLOAD_CHOICES, OFFLOAD_MODES

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np
    import torch

#: Weight file suffixes that are pickles: loading one can run arbitrary code.
PICKLED_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")

#: With ``vae_tiling`` left to auto, tiling is used above this many pixels per frame
#: (more than 1280x720).  A fixed size rule, not free memory, keeps output reproducible
#: from one machine to the next.
AUTO_TILING_PIXELS = 1280 * 720


# --------------------------------------------------------------------------- weights


def hub_offline() -> bool:
    """Whether the Hugging Face hub must not be contacted (``HF_HUB_OFFLINE`` set truthy)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def fetch_hint(repo: str) -> str:
    """The sentence that tells a user how to make ``repo`` available offline."""
    return (
        f"fetch it with `huggingface-cli download {repo}` (or `hf download {repo}`) on a machine "
        f"with network access, or point --model-path at a local diffusers-format folder"
    )


def resolve_weights(location: str | os.PathLike[str] | None) -> str:
    """Turn a weights location into what ``from_pretrained`` should be given.

    A local folder is checked (diffusers layout, safetensors only) and returned
    as an absolute path.  Anything else is a Hugging Face repo id, loaded
    through the normal cache; when the hub is offline and the repo is not
    cached, a :class:`UserError` says how to fetch it, instead of a stack trace
    from deep inside huggingface_hub.
    """
    if location is None or not str(location).strip():
        raise UserError("no weights location: give --model-path DIR or configure the model's repo")
    text = str(location).strip()
    path = Path(text).expanduser()
    if path.is_dir():
        check_local_weights(path)
        return str(path.resolve())
    if path.exists():
        raise UserError(f"weights location {text} is a file; expected a diffusers-format folder or a repo id")
    if _looks_like_path(text):
        raise UserError(f"weights folder {text} does not exist")
    if hub_offline() and not repo_is_cached(text):
        raise UserError(f"model weights {text} are not in the local Hugging Face cache and HF_HUB_OFFLINE is set; {fetch_hint(text)}")
    return text


def _looks_like_path(text: str) -> bool:
    # Repo ids are "owner/name": one slash, no leading dot, tilde or separator.
    return text.startswith((".", "/", "~", "\\")) or text.count("/") > 1 or os.sep in text.replace("/", "") or ":" in text


def repo_is_cached(repo: str) -> bool:
    """Whether a snapshot of ``repo`` (at least its ``model_index.json``) is in the local cache."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo, "model_index.json")
    return isinstance(found, str)


def weights_revision(location: str) -> str | None:
    """What exactly ``location`` (from :func:`resolve_weights`) holds, for the generation record.

    * a Hugging Face repo id: the commit hash of the snapshot in the local cache
      (the folder ``from_pretrained`` reads), None when it is not cached;
    * a folder inside a cache snapshot (``.../snapshots/<commit>``): that commit;
    * any other local folder: ``sha256:`` and a hash of its config files
      (``*.json``, ``*.txt``, ``*.model``: configs, tokenizer files and
      ``model_index.json``, by relative path and content), so two folders with
      different configs never share a revision.  Weight files are not hashed:
      reading gigabytes for a record would cost more than the generation.
    """
    import hashlib

    path = Path(location)
    if path.is_dir():
        if path.parent.name == "snapshots":
            return path.name
        digest = hashlib.sha256()
        for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".json", ".txt", ".model")):
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
            digest.update(file.read_bytes() + b"\0")
        return "sha256:" + digest.hexdigest()
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(location, "model_index.json")
    if isinstance(found, str):
        snapshot = Path(found).parent
        if snapshot.parent.name == "snapshots":
            return snapshot.name
    return None


def check_local_weights(folder: str | os.PathLike[str]) -> None:
    """Refuse a folder that is not a diffusers pipeline or whose weights are pickled.

    Each component folder that holds weights must hold safetensors: a component
    with only ``.bin``/``.pt``/``.ckpt`` files would need unpickling, which can
    run arbitrary code, so wgp never loads it.
    """
    root = Path(folder)
    pickled: dict[str, list[str]] = {}
    safe: set[str] = set()
    for file in root.rglob("*"):
        if not file.is_file():
            continue
        component = file.parent.relative_to(root).as_posix() or "."
        if file.name.endswith(".safetensors"):
            safe.add(component)
        elif file.name.endswith(PICKLED_SUFFIXES):
            pickled.setdefault(component, []).append(file.name)
    refused = {c: names for c, names in pickled.items() if c not in safe}
    if refused:
        listing = "; ".join(f"{c}: {', '.join(sorted(n))}" for c, n in sorted(refused.items()))
        raise UserError(
            f"{root} holds pickled weights without safetensors ({listing}); wgp loads only safetensors "
            f"because unpickling can run arbitrary code. Convert them to .safetensors first"
        )
    if not (root / "model_index.json").is_file():
        raise UserError(f"{root} is not a diffusers-format folder (no model_index.json)")


def load_pipeline(pipeline_class: Any, location: str, dtype: Any, **kwargs: Any) -> Any:
    """``pipeline_class.from_pretrained(location, dtype=dtype, use_safetensors=True, **kwargs)``.

    ``location`` comes from :func:`resolve_weights`.  Missing files and network
    failures become a :class:`UserError` naming the location and how to fetch
    it; every other error propagates unchanged, because it is a bug to see.
    """
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        with quiet_progress_bars(), _no_hub_fallback_warning():
            pipe = pipeline_class.from_pretrained(location, dtype=dtype, use_safetensors=True, **kwargs)
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        if Path(location).is_dir():
            raise UserError(f"cannot load weights from {location}: {_first_line(exc)}") from exc
        raise UserError(f"cannot load weights from {location}: {_hub_failure(exc, location)}; {fetch_hint(location)}") from exc
    # The host reports steps itself (step_callback); diffusers' own tqdm bar would garble its display.
    pipe.set_progress_bar_config(disable=True)
    return pipe


@contextlib.contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Silence diffusers' and transformers' loading bars for the duration; the host shows its own progress."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    restore = []
    for module in (diffusers_logging, transformers_logging):
        if module.is_progress_bar_enabled():
            module.disable_progress_bar()
            restore.append(module)
    try:
        yield
    finally:
        for module in restore:
            module.enable_progress_bar()


@contextlib.contextmanager
def _no_hub_fallback_warning() -> Iterator[None]:
    """Drop diffusers' "Couldn't connect to the Hub ... Will try to load from local cache" lines:
    loading from the cache is what wgp wants, and when the cache lacks the weights the error
    says so in its one line (:func:`_hub_failure`)."""
    import logging

    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Couldn't connect to the Hub")

    logger = logging.getLogger("diffusers.pipelines.pipeline_utils")
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def _hub_failure(exc: BaseException, repo: str) -> str:
    """Why a repo could not be loaded.  When asking the hub fails (no network, an unknown repo),
    diffusers falls back to the cache and, the cache lacking the files, raises an error that
    points at a traceback the user never sees; the cause it chains is what the user needs."""
    cause = exc.__cause__
    if cause is None:
        return _first_line(exc)
    cached = "part of it is" if repo_is_cached(repo) else "it is not"
    return f"{cached} in the local Hugging Face cache, and asking the hub failed ({_first_line(cause)})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- device plan


def resolve_device(name: str | None) -> str:
    """``auto`` becomes ``cuda`` when CUDA works, else ``mps``, else ``cpu``; other names pass through.

    Resolution happens at load time, in the process that generates, because a
    queue worker may run on a different machine than the one that queued.
    """
    import torch

    text = (name or "auto").strip().lower()
    if text != "auto":
        return text
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def resolve_dtype(name: str | None, device: str, safe: Iterable[str] = ANY_DTYPE) -> torch.dtype:
    """A plan's dtype; ``auto`` is :func:`~wgp_diffusers.dtypes.choose_dtype` among the dtypes the
    model is declared ``safe`` in on this device (bfloat16 on a recent GPU, float32 on a CPU)."""
    import torch

    text = (name or "auto").strip().lower()
    if text == "auto":
        return getattr(torch, choose_dtype(safe, device_dtypes(device))[0])
    return getattr(torch, dtype_name(text))


def tokens_cut(tokenizer: Any, text: str, limit: int) -> int:
    """How many tokens of ``text`` a pipeline that tokenizes to ``limit`` tokens (truncating, with
    its special tokens, as diffusers' text encoders do) leaves out; 0 when it fits."""
    length = len(tokenizer(text, add_special_tokens=True, truncation=False).input_ids)
    return max(0, length - int(limit))


def component_dtypes(dtype: torch.dtype, keep_float32: Iterable[str] = ()) -> Any:
    """A ``from_pretrained`` dtype that keeps the named components in float32.

    Families name components whose published recipe runs them in float32 (for
    example a video VAE); on float32 plans this is just ``dtype``.
    """
    import torch

    keep = tuple(keep_float32)
    if dtype == torch.float32 or not keep:
        return dtype
    return {"default": dtype, **{name: torch.float32 for name in keep}}


def validate_plan(plan: LoadPlan, safe_dtypes: Iterable[str] = ANY_DTYPE) -> list[str]:
    """Refuse a plan that cannot work on this machine, before any weight is loaded.

    Raises :class:`UserError` for: an unknown device, offload mode or dtype;
    ``cuda`` without a working CUDA (or a GPU index beyond the count); ``mps``
    without MPS; ``sequential`` offload without an accelerator (it streams
    weights *to* an accelerator, so on a CPU it has nothing to do and diffusers
    fails).  Returns warnings for plans that work but are probably unintended:
    ``model``/``group`` offload on a CPU (harmless, no memory saved) and
    half-precision dtypes on a CPU (allowed: it halves memory, but it is slow
    and numerically different from float32); and, against the dtypes the model is
    declared safe in (``safe_dtypes``), an ``auto`` that had to fall back to float32
    or an explicit dtype outside them.
    """
    import torch

    warnings: list[str] = []
    device = resolve_device(plan.device)
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda", "mps"):
        raise UserError(f"device: must be auto, cpu, cuda, cuda:N or mps (got {plan.device!r})")
    if index and (kind != "cuda" or not index.isdigit()):
        raise UserError(f"device: only cuda takes an index, as cuda:N (got {plan.device!r})")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise UserError("device cuda was requested but CUDA is not available on this machine; use --device cpu or auto")
        if index and int(index) >= torch.cuda.device_count():
            raise UserError(f"device {device} was requested but this machine has {torch.cuda.device_count()} CUDA device(s)")
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise UserError("device mps was requested but MPS is not available on this machine; use --device cpu or auto")
    offload = str(plan.option("offload", "none")).strip().lower()
    if offload not in OFFLOAD_CHOICES:
        raise UserError(f"offload: must be one of {', '.join(OFFLOAD_CHOICES)} (got {plan.option('offload')!r})")
    if offload == "sequential" and kind == "cpu":
        raise UserError(
            "offload sequential streams weights to an accelerator and needs CUDA or MPS; "
            "on a CPU use --offload none (or model/group)"
        )
    if offload in ("model", "group") and kind == "cpu":
        warnings.append(f"offload {offload} on a CPU saves no memory; it only runs the same code path")
    requested = str(plan.option("dtype", "auto")).strip().lower()
    if requested == "auto":
        dtype_text, note = choose_dtype(safe_dtypes, device_dtypes(device))
        dtype = getattr(torch, dtype_text)
    else:
        dtype, note = resolve_dtype(requested, device), unsafe_note(requested, safe_dtypes)
    if note:
        warnings.append(note)
    if kind == "cpu" and dtype != torch.float32:
        warnings.append(f"{str(dtype).removeprefix('torch.')} on a CPU is slow and differs from float32 results")
    return warnings


def group_offload_kwargs(plan: LoadPlan, device: str) -> dict[str, Any]:
    """diffusers' ``enable_group_offload`` arguments for ``--offload group`` and its options
    (the same for a whole pipeline and for one component of a modular pipeline)."""
    import torch

    stream = plan.option("offload_stream")
    disk = plan.option("offload_disk")
    return {
        "onload_device": torch.device(device),
        "offload_device": torch.device("cpu"),
        "offload_type": "block_level",
        "num_blocks_per_group": int(plan.option("offload_blocks", 1)),
        "use_stream": device.startswith("cuda") if stream is None else bool(stream),
        "low_cpu_mem_usage": bool(plan.option("offload_low_cpu_memory", False)),
        "offload_to_disk_path": os.path.expanduser(str(disk)) if disk else None,
    }


def apply_offload(pipe: Any, plan: LoadPlan, device: str) -> None:
    """Place a loaded pipeline as ``plan.offload`` says.

    * ``none``: every component on ``device`` (fastest, most memory).
    * ``model``: ``enable_model_cpu_offload``: whole components move to the
      accelerator while they run (text encoder, then transformer, then VAE).
    * ``group``: ``enable_group_offload`` at block level, ``offload_blocks``
      transformer blocks (or layer groups) at a time, with a CUDA stream to
      overlap transfers (``offload_stream``, default on with CUDA), the offloaded
      copies in RAM or in ``offload_disk`` (safetensors files), pinned all at
      once or, with ``offload_low_cpu_memory``, as each group moves.
    * ``sequential``: ``enable_sequential_cpu_offload``: leaf by leaf, the least
      memory and the slowest.

    All modes give the same frames as ``none`` (within float determinism of the
    device); :func:`validate_plan` has already refused impossible ones.
    """
    offload = str(plan.option("offload", "none")).strip().lower()
    if offload == "none":
        pipe.to(device)
    elif offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "group":
        pipe.enable_group_offload(**group_offload_kwargs(plan, device))
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:  # validate_plan refuses this first; kept for direct callers
        raise UserError(f"offload: must be one of {', '.join(OFFLOAD_MODES)} (got {plan.option('offload')!r})")


def wants_vae_tiling(setting: bool | None, width: int, height: int, threshold: int = AUTO_TILING_PIXELS) -> bool:
    """``True``/``False`` are the user's choice; ``None`` (auto) tiles frames of more than ``threshold`` pixels.

    The default threshold (1280x720) suits video VAEs, which decode many frames
    at once; an image family passes a larger one.
    """
    if setting is not None:
        return bool(setting)
    return int(width) * int(height) > threshold


def apply_vae_tiling(
    pipe: Any, setting: bool | None, width: int, height: int, threshold: int = AUTO_TILING_PIXELS
) -> bool:
    """Switch the pipeline's VAE tiling on or off for one generation; returns whether it is on.

    Tiling decodes in overlapping tiles, which bounds VAE memory at a small cost
    in speed and a small change in pixels, so it is set per request.
    """
    vae = getattr(pipe, "vae", None)
    if vae is None or not hasattr(vae, "enable_tiling"):
        return False
    on = wants_vae_tiling(setting, width, height, threshold)
    if on:
        vae.enable_tiling()
    elif hasattr(vae, "disable_tiling"):
        vae.disable_tiling()
    return on


# --------------------------------------------------------------------------- running


def load_images(params: Mapping[str, Any], arguments: Mapping[str, str], fit: bool = True) -> dict[str, Any]:
    """The request's conditioning images as RGB PIL images, keyed by pipeline argument.

    ``arguments`` maps a parameter name to the pipeline's argument, e.g.
    ``{"image_start": "image", "image_end": "last_image"}``; parameters that are
    not set are left out.  ``diffusers.utils.load_image`` (EXIF orientation
    applied, converted to RGB) is what a direct diffusers user calls.  With ``fit``
    (and the request's ``width`` and ``height``), each image is centre-cropped to the
    output's aspect ratio and resized to it (:func:`wgp_diffusers.sizing.prepare_image`),
    so no pipeline stretches it.
    """
    from diffusers.utils import load_image

    from .sizing import prepare_image

    images = {argument: load_image(str(params[name])) for name, argument in arguments.items() if params.get(name)}
    if fit and params.get("width") and params.get("height"):
        images = {k: prepare_image(v, int(params["width"]), int(params["height"])) for k, v in images.items()}
    return images


def seeded_generator(seed: int, device: str) -> torch.Generator:
    """``torch.Generator(device).manual_seed(seed)``: the generator a direct diffusers call would use.

    The generator lives on the execution device (MPS falls back to CPU, where
    diffusers creates its noise anyway), so the same seed gives the same noise
    as a user's own ``pipe(..., generator=torch.Generator(device).manual_seed(seed))``.
    """
    import torch

    kind = device.split(":")[0]
    return torch.Generator("cpu" if kind == "mps" else device).manual_seed(int(seed))


def step_callback(context: GenerationContext, total: int) -> Callable[[Any, int, Any, dict], dict]:
    """A ``callback_on_step_end`` that reports step ``i + 1`` of ``total`` to the job.

    ``context.step`` raises :class:`~wgp_hookspecs.JobCancelled` when the job is
    cancelled; the exception is left to propagate, which stops the pipeline at
    once and skips the VAE decode (a hard cancel: nothing is written).
    """

    def on_step_end(pipe: Any, i: int, t: Any, callback_kwargs: dict) -> dict:
        context.step(i + 1, total, model=pipe)
        return callback_kwargs

    return on_step_end


def to_uint8_video(frames: Any) -> np.ndarray:
    """Float frames in [0, 1] from ``output_type="np"`` to ``uint8 [T, H, W, 3]``.

    Accepts the pipeline's ``.frames`` (``[B, T, H, W, C]``, the first video is
    taken) or one video ``[T, H, W, C]``.  The conversion is
    ``round(x * 255)``, the one diffusers uses for ``output_type="pil"`` and in
    ``encode_video``, so a lossless writer reproduces exactly what a direct
    diffusers user gets from ``pipe(..., output_type="pil")``.  (The legacy
    ``export_to_video`` truncates instead and can differ by one level.)
    """
    import numpy as np

    array = np.asarray(frames)
    if array.ndim == 5:
        array = array[0]
    if array.ndim != 4:
        raise ValueError(f"expected frames [T, H, W, C] or [B, T, H, W, C], got shape {array.shape}")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    return np.ascontiguousarray((np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8))


def to_uint8_images(images: Any) -> list[np.ndarray]:
    """Float images in [0, 1] from ``output_type="np"`` (``[B, H, W, C]``) to a list of ``uint8 [H, W, C]``.

    Rounds like :func:`to_uint8_video` (and like diffusers' PIL output), so a
    PNG written from them equals ``pipe(..., output_type="pil").images``.
    """
    import numpy as np

    array = np.asarray(images)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise ValueError(f"expected images [B, H, W, C] or [H, W, C], got shape {array.shape}")
    return list(to_uint8_video(array))


def release_pipeline(pipe: Any, device: str | None = None) -> None:
    """Drop offload hooks and free memory held for a pipeline the caller is discarding.

    The caller must drop its own references too; this removes accelerate hooks
    (which keep modules alive), collects garbage and empties the CUDA cache so
    the next model gets the memory.
    """
    import gc

    import torch

    if pipe is not None and hasattr(pipe, "remove_all_hooks"):
        try:
            pipe.remove_all_hooks()
        except Exception:  # noqa: BLE001 - freeing memory must not fail the caller
            pass
    del pipe
    gc.collect()
    if torch.cuda.is_available() and (device is None or device.startswith("cuda")):
        torch.cuda.empty_cache()
