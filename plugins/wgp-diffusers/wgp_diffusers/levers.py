"""Speed and memory levers for every diffusers family: step caches, attention kernels, compile, fp8 storage.

Each lever is diffusers' own mechanism, chosen by a plan option and applied by
one call on the loaded transformer(s): a cache config and ``enable_cache``,
``set_attention_backend``, ``compile_repeated_blocks`` / ``torch.compile``,
``enable_layerwise_casting``.  wgp's part is to validate the choice before any
weight is read (:func:`check_levers`), apply it the same way for every family
(:func:`apply_levers`, Wan 2.2's two experts included) and record it
(:func:`lever_report`).  Torch and diffusers are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from typing import Any

from wgp_hookspecs import LoadPlan, UserError

#: ``--cache`` names -> diffusers hook config classes (``diffusers.hooks``).
CACHES = {
    "fbcache": "FirstBlockCacheConfig",
    "taylorseer": "TaylorSeerCacheConfig",
    "magcache": "MagCacheConfig",
    "seacache": "SeaCacheConfig",
    "pab": "PyramidAttentionBroadcastConfig",
    "textkv": "TextKVCacheConfig",
}
#: wgp's defaults where diffusers' leave a cache inert.  PAB with every skip range None skips
#: nothing; a range of 2 for spatial attention is the example in diffusers' PAB docs.
CACHE_DEFAULTS: dict[str, dict[str, Any]] = {"pab": {"spatial_attention_block_skip_range": 2}}
#: Config fields wgp fills itself (callbacks into the running pipeline) or that take objects.
_INTERNAL_FIELDS = {"current_timestep_callback", "raw_vision_callback", "attention_weight_callback",
                    "low_frequency_weight_callback", "high_frequency_weight_callback", "taylor_factors_dtype", "calibrate"}

#: ``--attention`` names -> diffusers attention backends (``AttentionBackendName``); ``auto`` keeps the model's.
ATTENTION = {"auto": None, "native": "native", "flash": "flash", "flash3": "_flash_3", "sage": "sage",
             "flex": "flex", "xformers": "xformers"}
#: Backends that run only on CUDA.
_CUDA_ONLY = {"flash", "flash3", "sage", "xformers"}

COMPILE_MODES = ("none", "regional", "full")
#: ``--storage-dtype`` names -> torch dtypes weights are stored in (computed in the plan's dtype).
STORAGE_DTYPES = {"none": None, "fp8": "float8_e4m3fn", "fp8_e5m2": "float8_e5m2"}

#: ``--quantize`` names -> (backend, torchao config class or bitsandbytes mode, needs CUDA).
QUANTIZE = {
    "none": None,
    "int8": ("torchao", "Int8WeightOnlyConfig", False),
    "int4": ("torchao", "Int4WeightOnlyConfig", True),
    "fp8": ("torchao", "Float8WeightOnlyConfig", True),
    "nf4": ("bitsandbytes", "nf4", True),
}
#: What ``--quantize-text-encoder auto`` quantizes to when the offload planner asks for it: int8
#: weight-only runs everywhere (CPU included) and halves bf16 weights.
AUTO_TEXT_ENCODER_QUANTIZE = "int8"

#: The extra of wgp-diffusers that installs each backend.
_EXTRAS = {"torchao": "torchao", "bitsandbytes": "bnb", "gguf": "gguf"}

#: ``--transformer-file`` suffixes -> format (pickled checkpoints are never loaded: they can run code).
TRANSFORMER_FILE_FORMATS = {".gguf": "gguf", ".safetensors": "safetensors"}

#: The denoisers a lever applies to, in pipeline attribute order (Wan 2.2 A14B has two experts).
DENOISERS = ("transformer", "transformer_2", "unet")


def cache_options(plan: LoadPlan) -> dict[str, Any]:
    """``--cache-option KEY=VALUE`` items as a dict, values parsed as JSON where they are JSON."""
    out: dict[str, Any] = {}
    for item in plan.option("cache_options") or ():
        key, sep, raw = str(item).partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UserError(f"--cache-option expects KEY=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out[key] = tuple(value) if isinstance(value, list) else value
    return out


def cache_config(name: str, options: Mapping[str, Any], callbacks: Mapping[str, Any] | None = None) -> Any:
    """The diffusers config object for ``--cache NAME`` with ``options`` (unknown keys refused)."""
    import diffusers.hooks

    config_class = getattr(diffusers.hooks, CACHES[name])
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    public = sorted(set(fields) - _INTERNAL_FIELDS)
    unknown = sorted(set(options) - set(public))
    if unknown:
        raise UserError(f"--cache-option {', '.join(unknown)}: not an option of {name} ({CACHES[name]}); "
                        f"known: {', '.join(public) or 'none'}")
    values = {**CACHE_DEFAULTS.get(name, {}), **options}
    values.update({k: v for k, v in (callbacks or {}).items() if k in fields})
    if name == "magcache" and not values.get("mag_ratios") and not values.get("calibrate"):
        raise UserError(f"magcache needs per-model magnitude ratios: {CALIBRATE_HINT}")
    try:
        return config_class(**values)
    except (TypeError, ValueError) as exc:
        raise UserError(f"--cache {name}: {exc}") from None


#: How a user gets MagCache ratios (the one place that says it).
CALIBRATE_HINT = ("run `wgp calibrate MODEL --steps N` once (the ratios are stored and used by later runs), "
                  "or pass --cache-option mag_ratios=[...]")


# --------------------------------------------------------------------------- which caches a model takes

#: The caches that find a model's blocks through diffusers' registry of block classes
#: (``TransformerBlockRegistry``): a transformer whose block class is not in it fails at load.
REGISTRY_CACHES = ("fbcache", "seacache", "magcache")
#: The reason a family gives for :data:`REGISTRY_CACHES` when diffusers does not know its blocks.
UNREGISTERED_BLOCKS = "diffusers 0.42 does not register its transformer block for step caches"


def refusing(caches: tuple[str, ...], reason: str) -> dict[str, str]:
    """A ``refused_caches`` declaration: each of ``caches`` refused for ``reason``::

        define_family(..., refused_caches=refusing(REGISTRY_CACHES, UNREGISTERED_BLOCKS))
    """
    unknown = sorted(set(caches) - set(CACHES))
    if unknown:
        raise ValueError(f"refused_caches: {', '.join(unknown)} is not a cache; known: {', '.join(CACHES)}")
    return dict.fromkeys(caches, reason)


def refused_caches(spec: Any) -> dict[str, str]:
    """The caches ``spec`` cannot take and why: its ``refused_caches`` option (cache -> reason),
    declared by the model's family (:func:`wgp_diffusers.define_family`) or the model itself."""
    return dict((spec.options.get("refused_caches") or {}) if spec is not None else {})


def usable_caches(spec: Any) -> tuple[str, ...]:
    """The ``--cache`` names that run on ``spec``, in :data:`CACHES` order."""
    refused = refused_caches(spec)
    return tuple(name for name in CACHES if name not in refused)


def check_cache(spec: Any, cache: str) -> None:
    """Refuse ``--cache CACHE`` on a model that declares it cannot take it, in one line."""
    reason = refused_caches(spec).get(cache)
    if reason is None:
        return
    usable = usable_caches(spec)
    others = f"caches that run on it: {', '.join(usable)}" if usable else "no step cache runs on it"
    raise UserError(f"--cache {cache} does not run on {spec.id}: {reason}; {others}")


def register_cache_block(block_class: Any, return_hidden_states_index: int,
                         return_encoder_hidden_states_index: int | None = None) -> bool:
    """Tell diffusers' block-registry caches (:data:`REGISTRY_CACHES`) what ``block_class`` returns;
    False when diffusers has no such registry (the caches then stay refused at load, in one line).

    The registry is diffusers' private ``diffusers.hooks._helpers.TransformerBlockRegistry``, known
    here only: a diffusers that registers the block itself wins.
    """
    try:
        from diffusers.hooks._helpers import TransformerBlockMetadata, TransformerBlockRegistry
    except ImportError:  # pragma: no cover - a diffusers without the registry
        return False
    TransformerBlockRegistry._register()
    if block_class not in TransformerBlockRegistry._registry:
        TransformerBlockRegistry.register(block_class, TransformerBlockMetadata(
            return_hidden_states_index=return_hidden_states_index,
            return_encoder_hidden_states_index=return_encoder_hidden_states_index))
    return True


def uses_calibration(plan: LoadPlan) -> bool:
    """MagCache with no ``mag_ratios`` option: the ratios come from ``wgp calibrate``'s files."""
    return plan.option("cache", "none") == "magcache" and "mag_ratios" not in cache_options(plan)


def check_plan(spec: Any, plan: LoadPlan) -> list[str]:
    """At the door (``ModelFamily.check_plan``): the model takes the step cache (:func:`check_cache`),
    the cache and its options make a valid config, and MagCache without ratios has a stored calibration for the model (on this machine).

    Imports diffusers (and so torch) only when a cache is asked for.
    """
    cache = plan.option("cache", "none")
    if cache == "none" and plan.option("cache_options"):
        raise UserError("--cache-option needs a cache: pass --cache NAME")
    if cache != "none":
        check_cache(spec, cache)
        options = cache_options(plan)
        if uses_calibration(plan):
            from .calibration import calibrations

            if spec is not None and plan.cache_dir and not calibrations(plan.cache_dir, spec.id, any_revision=True):
                raise UserError(f"magcache: {spec.id} has no MagCache calibration on this machine; "
                                + CALIBRATE_HINT.replace("MODEL", spec.id))
            options = {**options, "mag_ratios": [1.0]}  # validate the other options; the ratios come at run time
        cache_config(cache, options, {"current_timestep_callback": lambda: None})
    check_transformer_file(plan)
    check_offload_options(plan)
    if spec is not None and spec.options.get("modular"):
        from .modular import check_modular_plan

        check_modular_plan(spec, plan)
    return []


#: Options that shape ``--offload group`` (and the group plans ``--offload auto`` may choose).
GROUP_OFFLOAD_OPTIONS = {"offload_blocks": ("--offload-blocks", 1), "offload_stream": ("--offload-stream", None),
                         "offload_disk": ("--offload-disk", None), "offload_low_cpu_memory": ("--offload-low-cpu-memory", False)}


def check_offload_options(plan: LoadPlan) -> None:
    """The offload options fit the offload mode: group options need ``group`` or ``auto``,
    ``--max-memory`` and ``--quantize-text-encoder auto`` need ``auto``."""
    from .planner import parse_size

    offload = plan.option("offload", "none")
    for name, (flag, default) in GROUP_OFFLOAD_OPTIONS.items():
        if plan.option(name, default) != default and offload not in ("group", "auto"):
            raise UserError(f"{flag} shapes group offload; use it with --offload group or auto (not {offload})")
    if plan.option("max_memory") is not None:
        if offload != "auto":
            raise UserError(f"--max-memory is the budget of --offload auto; use it with --offload auto (not {offload})")
        try:
            parse_size(plan.option("max_memory"))
        except ValueError as exc:
            raise UserError(f"--max-memory: {exc}") from None
    if plan.option("quantize_text_encoder") == "auto" and offload != "auto":
        raise UserError(f"--quantize-text-encoder auto lets --offload auto decide; use it with --offload auto (not {offload})")


def check_transformer_file(plan: LoadPlan) -> dict[str, Any] | None:
    """A ``--transformer-file`` the loader can read, described (format, bytes, tensor types), or None.

    Reads the file's header only (GGUF tensor infos, safetensors' JSON header).
    """
    path = plan.option("transformer_file")
    if not path:
        return None
    file = os.fspath(path)
    suffix = os.path.splitext(file)[1].lower()
    fmt = TRANSFORMER_FILE_FORMATS.get(suffix)
    if fmt is None:
        raise UserError(f"--transformer-file {file}: expected a .gguf or .safetensors file "
                        f"(pickled checkpoints such as {suffix or 'this one'} are never loaded: unpickling can run code)")
    if not os.path.isfile(file):
        raise UserError(f"--transformer-file {file}: no such file")
    info: dict[str, Any] = {"path": file, "format": fmt, "bytes": os.path.getsize(file)}
    if fmt == "gguf":
        if plan.option("quantize", "none") != "none":
            raise UserError("--quantize does not combine with a .gguf --transformer-file: its weights are quantized already")
        if importlib.util.find_spec("gguf") is None:
            raise UserError(f"--transformer-file {file} needs gguf: pip install 'wgp-diffusers[gguf]'")
        import collections

        import gguf

        try:
            reader = gguf.GGUFReader(file)
        except (ValueError, OSError, KeyError) as exc:
            raise UserError(f"--transformer-file {file} is not a readable GGUF file ({exc})") from None
        info["tensor_types"] = dict(sorted(collections.Counter(t.tensor_type.name for t in reader.tensors).items()))
    else:
        if plan.option("quantize", "none") != "none":
            raise UserError("--quantize does not combine with --transformer-file: quantize the file itself (a GGUF) "
                            "or load the model's own transformer")
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(file, framework="numpy") as handle:
                info["tensors"] = len(list(handle.keys()))
        except (SafetensorError, OSError) as exc:
            raise UserError(f"--transformer-file {file} is not a readable safetensors file ({exc})") from None
    return info


def load_transformer_file(plan: LoadPlan, pipeline_class: Any, location: str, dtype: Any) -> Any | None:
    """The pipeline's transformer loaded from ``--transformer-file`` with ``from_single_file``
    (diffusers' converters map original key names; the config is the model's own), or None."""
    info = check_transformer_file(plan)
    if info is None:
        return None
    index = pipeline_class.load_config(location)
    if _has_two_experts(index):
        raise UserError("--transformer-file replaces one transformer, and this model has two experts "
                        "(transformer and transformer_2); load the model's own weights")
    class_name = _component_class(index, "transformer")
    import diffusers

    model_class = getattr(diffusers, class_name or "", None)
    if model_class is None or not hasattr(model_class, "from_single_file"):
        raise UserError(f"--transformer-file: this model's transformer ({class_name or 'none'}) cannot be loaded from a single file")
    kwargs: dict[str, Any] = {"config": location, "subfolder": "transformer", "torch_dtype": dtype}
    if info["format"] == "gguf":
        kwargs["quantization_config"] = diffusers.GGUFQuantizationConfig(compute_dtype=dtype)
    try:
        with _quiet_diffusers():  # per-tensor notes about modules kept in float32
            return model_class.from_single_file(info["path"], **kwargs)
    except (ValueError, KeyError, RuntimeError, OSError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"--transformer-file {info['path']} does not fit {class_name}: {text}") from None


def check_levers(plan: LoadPlan, device: str) -> list[str]:
    """Refuse a lever this machine cannot run, before any weight is read; returns warnings."""
    warnings = check_plan(None, plan)
    kind = device.split(":")[0]
    attention = plan.option("attention", "auto")
    backend = ATTENTION[attention]
    if attention in _CUDA_ONLY and kind != "cuda":
        raise UserError(f"--attention {attention} runs on CUDA only (this plan's device is {device}); use native or auto")
    if backend is not None:
        from diffusers.models.attention_dispatch import AttentionBackendName, _check_attention_backend_requirements

        try:
            _check_attention_backend_requirements(AttentionBackendName(backend))
        except RuntimeError as exc:  # the missing package, named by diffusers
            raise UserError(f"--attention {attention}: {exc}") from None
    _check_quantize("--quantize", plan.option("quantize", "none"), kind)
    _check_quantize("--quantize-text-encoder", AUTO_TEXT_ENCODER_QUANTIZE if plan.option("quantize_text_encoder") == "auto"
                    else plan.option("quantize_text_encoder", "none"), kind)
    if plan.option("offload_stream") and kind != "cuda":
        raise UserError(f"--offload-stream prefetches on a CUDA stream (this plan's device is {device}); drop it")
    if plan.option("compile", "none") != "none" and kind == "cpu" and not (shutil.which("g++") or shutil.which("c++")):
        raise UserError("--compile on a CPU needs a C++ compiler (torch inductor builds kernels); install g++ or use --compile none")
    return warnings


def _check_quantize(flag: str, name: str, kind: str) -> None:
    spec = QUANTIZE[name]
    if spec is None:
        return
    backend, _, cuda_only = spec
    if cuda_only and kind != "cuda":
        raise UserError(f"{flag} {name} needs CUDA (this plan's device is {kind}); on a CPU use int8 or none")
    if importlib.util.find_spec(backend) is None:
        raise UserError(f"{flag} {name} needs {backend}: pip install 'wgp-diffusers[{_EXTRAS[backend]}]'")


def quantization_config(plan: LoadPlan, pipeline_class: Any, location: str, text_encoders: tuple[str, ...]) -> Any:
    """diffusers' ``PipelineQuantizationConfig`` for ``--quantize`` (the denoisers) and
    ``--quantize-text-encoder`` (``text_encoders``, transformers models) of the pipeline at
    ``location`` (only the components its ``model_index.json`` has), or None."""
    if QUANTIZE[plan.option("quantize", "none")] is None and QUANTIZE.get(plan.option("quantize_text_encoder", "none")) is None:
        return None  # (``auto`` is decided after loading: :func:`quantize_text_encoders`)
    index = pipeline_class.load_config(location)
    present = {name for name, value in index.items() if isinstance(value, (list, tuple)) and value and value[0]}
    mapping: dict[str, Any] = {}
    for option, names, library in (("quantize", DENOISERS, "diffusers"), ("quantize_text_encoder", text_encoders, "transformers")):
        components = [name for name in names if name in present]
        spec = QUANTIZE.get(plan.option(option, "none"))
        if spec is None:
            continue
        backend, what, _ = spec
        module = importlib.import_module(library)
        if backend == "torchao":
            import torchao.quantization

            config = module.TorchAoConfig(getattr(torchao.quantization, what)())
        else:
            import torch

            config = module.BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=what, bnb_4bit_compute_dtype=torch.bfloat16)
        mapping.update({name: config for name in components})
    if not mapping:
        return None
    from diffusers import PipelineQuantizationConfig

    return PipelineQuantizationConfig(quant_mapping=mapping)


def quantize_text_encoders(pipe: Any, names: tuple[str, ...]) -> list[str]:
    """Quantize the loaded text encoders in place (torchao's ``quantize_``, the call diffusers'
    ``TorchAoConfig`` makes at load) to :data:`AUTO_TEXT_ENCODER_QUANTIZE`; returns their names."""
    import torchao.quantization

    config_class = getattr(torchao.quantization, QUANTIZE[AUTO_TEXT_ENCODER_QUANTIZE][1])
    done = []
    for name in names:
        module = getattr(pipe, name, None)
        if module is not None:
            torchao.quantization.quantize_(module, config_class())
            done.append(name)
    return done


def denoisers(pipe: Any) -> list[tuple[str, Any]]:
    """The pipeline's denoiser modules (both experts of a two-expert Wan 2.2)."""
    return [(name, getattr(pipe, name)) for name in DENOISERS if getattr(pipe, name, None) is not None]


def apply_storage_dtype(pipe: Any, plan: LoadPlan, compute_dtype: Any) -> None:
    """Store the denoisers' weights in fp8 and upcast each layer as it runs (``enable_layerwise_casting``)."""
    name = STORAGE_DTYPES[plan.option("storage_dtype", "none")]
    if name is None:
        return
    import torch

    for _, module in denoisers(pipe):
        module.enable_layerwise_casting(storage_dtype=getattr(torch, name), compute_dtype=compute_dtype)


def apply_levers(pipe: Any, plan: LoadPlan, current_pipe: Any) -> None:
    """Attention backend, step cache and compile on every denoiser of a loaded, placed pipeline.

    ``current_pipe()`` returns the pipeline that is running (a model with a second
    pipeline class shares the transformer), for caches that follow the timestep.
    """
    backend = ATTENTION[plan.option("attention", "auto")]
    cache = plan.option("cache", "none")
    compile_mode = plan.option("compile", "none")
    if compile_mode != "none" and plan.cache_dir:
        # Inductor's on-disk caches under the wgp cache folder: a restarted worker reuses the
        # compiled kernels instead of building them again (a user's own setting wins).
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", os.path.join(plan.cache_dir, "torchinductor"))
    for name, module in denoisers(pipe):
        if backend is not None:
            with _quiet_diffusers():  # its "experimental feature" notice on every load
                module.set_attention_backend(backend)
        if cache != "none" and not uses_calibration(plan):  # calibrated MagCache: per request (steps)
            config = cache_config(cache, cache_options(plan), {"current_timestep_callback": lambda: current_pipe().current_timestep})
            enable = getattr(module, "enable_cache", None)
            if enable is None:
                raise UserError(f"--cache {cache}: {type(module).__name__} ({name}) supports no step cache")
            try:
                enable(config)
            except ValueError as exc:
                raise UserError(f"--cache {cache} does not apply to {type(module).__name__}: {exc}") from None
        if compile_mode == "regional":
            module.compile_repeated_blocks(fullgraph=False)
        elif compile_mode == "full":
            module.compile()


@contextlib.contextmanager
def _quiet_diffusers() -> Iterator[None]:
    from diffusers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)


def reset_caches(pipe: Any) -> None:
    """Forget step-cache state: a cancelled job skips the pipeline's own reset at its end."""
    for _, module in denoisers(pipe):
        reset = getattr(module, "_reset_stateful_cache", None)
        if reset is not None and getattr(module, "is_cache_enabled", False):
            reset()


def lever_report(plan: LoadPlan) -> dict[str, Any]:
    """What the record keeps about the levers, and whether the run is bit-reproducible."""
    import diffusers
    import torch

    cache = plan.option("cache", "none")
    reproducible = cache == "none" and plan.option("attention", "auto") in ("auto", "native") and plan.option("compile", "none") == "none"
    return {
        "cache": cache,
        "cache_options": cache_options(plan) if cache != "none" else {},
        "attention": plan.option("attention", "auto"),
        "compile": plan.option("compile", "none"),
        "storage_dtype": plan.option("storage_dtype", "none"),
        "quantize": plan.option("quantize", "none"),
        "quantize_text_encoder": plan.option("quantize_text_encoder", "none"),
        "transformer_file": check_transformer_file(plan),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        # A step cache skips work depending on values; fused kernels and compiled graphs
        # reorder float operations: the same request then gives close, not equal, frames.
        "bit_reproducible": reproducible,
    }


def _component_class(index: Mapping[str, Any], name: str) -> str | None:
    """The class name ``model_index.json`` gives component ``name``, or None when it has none."""
    entry = index.get(name)
    return entry[1] if isinstance(entry, (list, tuple)) and len(entry) > 1 and entry[1] else None


def _has_two_experts(index: Mapping[str, Any]) -> bool:
    return _component_class(index, "transformer_2") is not None
