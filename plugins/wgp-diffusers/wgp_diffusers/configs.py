"""A weights location's configs, read without torch: what a family tells its checkpoints apart by.

A diffusers folder says what it holds in small JSON files: ``model_index.json`` (the
pipeline class it was saved from, its components) and each component's
``config.json`` (layer counts, VAE blocks, a guidance embedding, ...).  A family's
``match_weights`` (at the door) and ``check_layout`` (when loaded) read them with
:func:`read_configs`, so one rule decides both; :func:`check_fits` and :func:`match_configs`
turn a family's rule into those one-line refusals.  Importing this module is cheap.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from wgp_hookspecs import ModelSpec, UserError


def read_configs(location: str, components: Iterable[str] = ()) -> dict[str, dict[str, Any]] | None:
    """``{"model_index": ..., COMPONENT: ...}`` parsed from a weights location, or None when
    nothing can be read there without the network.

    ``location`` is a local diffusers folder or a Hugging Face repo id, whose snapshot in
    the local cache is read (nothing is downloaded).  A component whose ``config.json``
    is not there is left out.  A config that is not JSON is a :class:`UserError`.
    """
    root = _local_root(location)
    if root is None:
        return None
    out: dict[str, dict[str, Any]] = {}
    for key, file in (("model_index", root / "model_index.json"), *((c, root / c / "config.json") for c in components)):
        if file.is_file():
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise UserError(f"weights at {location}: {file.relative_to(root)} is not readable JSON ({exc})") from None
            if isinstance(data, dict):
                out[key] = data
    return out or None


def _local_root(location: str) -> Path | None:
    path = Path(location).expanduser()
    if path.is_dir():
        return path
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(location, "model_index.json")
    except ValueError:  # not a valid repo id: nothing to read
        return None
    return Path(found).parent if isinstance(found, str) else None


def pipeline_configs(pipe: Any, components: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The same shape from a loaded pipeline: each named component's config (no ``model_index``:
    a loaded pipeline's own config names the class it was loaded with, not the one saved)."""
    out = {}
    for name in components:
        component = getattr(pipe, name, None)
        config = getattr(component, "config", None)
        if config is not None:
            out[name] = dict(config)
    return out


#: ``fits(spec, configs)``: what in ``configs`` says the weights are not ``spec``'s (empty: nothing does).
Fits = Callable[[ModelSpec, Mapping[str, Mapping[str, Any]]], list[str]]


def check_fits(spec: ModelSpec, configs: Mapping[str, Mapping[str, Any]], location: str,
               models: Iterable[ModelSpec], fits: Fits) -> None:
    """Raise :class:`UserError` when ``fits`` finds ``configs`` are not ``spec``'s, naming the ids
    of ``models`` (a family's table) they do fit: a family's ``check_configs``."""
    problems = fits(spec, configs)
    if not problems:
        return
    fitting = [s.id for s in models if s.id != spec.id and not fits(s, configs)]
    hint = f"; use -m {' or -m '.join(fitting)}" if fitting else ""
    raise UserError(f"weights at {location} do not match {spec.id}: {'; '.join(problems)}{hint}")


def match_configs(spec: ModelSpec, location: str, models: Iterable[ModelSpec], fits: Fits,
                  components: Iterable[str] = ("transformer",)) -> ModelSpec:
    """A family's ``ModelFamily.match_weights``: ``spec``, or :class:`UserError` (:func:`check_fits`)
    for weights at ``location`` whose configs (``model_index.json`` and ``components``') are of
    another of ``models``; weights that cannot be read without the network pass."""
    configs = read_configs(location, tuple(components))
    if configs is not None:
        check_fits(spec, configs, location, models, fits)
    return spec


__all__ = ["Fits", "check_fits", "match_configs", "pipeline_configs", "read_configs"]
