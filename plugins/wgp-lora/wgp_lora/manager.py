"""LoRAInjectionManager: find LoRA files, freeze them into a payload, apply and undo them.

Discovery looks in one folder per family: ``<loras_root>/<family>/`` unless the
config's ``lora_dirs`` names another folder for that family.  A file counts by
its real path (every symlink followed): it must be a ``.safetensors`` file
inside ``loras_root`` or one of the ``lora_dirs`` folders, so a link cannot
bring in a file from elsewhere (or a pickle under a safetensors name).  What
fails that is listed as refused, with the reason.  File hashes are
cached by path, size and mtime; ``snapshot_state()`` shows the cache and
``reset()`` (``--reset-lora-cache``) empties it.  Nothing here is global: the
adapter owns one manager per process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Mapping

from wgp_hookspecs import GenerationContext, UserError

from .schedule import is_per_step, parse_multiplier, weight_at

SUFFIX = ".safetensors"
REFUSED_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl")


class LoRAInjectionManager:
    def __init__(self) -> None:
        self._hashes: dict[tuple[str, int, int], str] = {}

    # ------------------------------------------------------------------ discovery

    @staticmethod
    def folder(family: str, config: Mapping[str, Any]) -> Path:
        custom = (config.get("lora_dirs") or {}).get(family)
        if custom:
            return Path(custom).expanduser()
        root = config.get("loras_root")
        if not root:
            raise UserError("no LoRA folder: set loras_root (or lora_dirs) in the config")
        return Path(root).expanduser() / family

    def families(self, config: Mapping[str, Any]) -> list[str]:
        names = set((config.get("lora_dirs") or {}).keys())
        root = Path(config.get("loras_root") or "")
        if root.is_dir():
            names |= {p.name for p in root.iterdir() if p.is_dir()}
        return sorted(names)

    @staticmethod
    def roots(config: Mapping[str, Any]) -> list[Path]:
        """The folders LoRA files may really live in: ``loras_root`` and each ``lora_dirs`` folder."""
        named = [config.get("loras_root"), *(config.get("lora_dirs") or {}).values()]
        return [Path(str(folder)).expanduser().resolve() for folder in named if folder]

    def available(self, family: str, config: Mapping[str, Any]) -> dict[str, Path]:
        """LoRA name (path relative to the family folder, without suffix) -> its real file."""
        return self.scan(family, config)[0]

    def refused(self, family: str, config: Mapping[str, Any]) -> dict[str, tuple[Path, str]]:
        """Files in the family folder that are not accepted: name -> (the file in the folder, why)."""
        return self.scan(family, config)[1]

    def scan(self, family: str, config: Mapping[str, Any]) -> tuple[dict[str, Path], dict[str, tuple[Path, str]]]:
        """``(available, refused)`` for one family's folder (see the module docstring)."""
        folder = self.folder(family, config)
        if not folder.is_dir():
            return {}, {}
        roots = self.roots(config)
        found: dict[str, Path] = {}
        refused: dict[str, tuple[Path, str]] = {}
        for path in sorted(folder.rglob("*")):
            lowered = path.name.lower()
            if lowered.endswith(REFUSED_SUFFIXES) and (path.is_symlink() or path.is_file()):
                refused[path.relative_to(folder).as_posix()] = (path, "pickled weights are refused (only .safetensors)")
                continue
            if not lowered.endswith(SUFFIX):
                continue
            name = path.relative_to(folder).with_suffix("").as_posix()
            try:
                real = path.resolve(strict=True)
            except (OSError, RuntimeError):  # a broken link or a loop
                refused[name] = (path, f"{path.name} is a link to nothing")
                continue
            if not real.is_file():
                continue
            if real.suffix.lower() != SUFFIX:
                refused[name] = (path, f"{path.name} is a link to {real.name}; only .safetensors files are accepted")
            elif not any(real.is_relative_to(root) for root in roots):
                refused[name] = (path, f"its real path {real} is outside the LoRA folders "
                                       f"({', '.join(map(str, roots))}); name its folder in lora_dirs to allow it")
            else:
                found[name] = real
        return found, refused

    def sha256(self, path: Path) -> str:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._hashes:
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            self._hashes[key] = digest.hexdigest()
        return self._hashes[key]

    def snapshot_state(self) -> dict[str, Any]:
        return {"hashed_files": len(self._hashes), "files": sorted({k[0] for k in self._hashes})}

    def reset(self) -> None:
        self._hashes.clear()

    # ------------------------------------------------------------------ resolving

    def find(self, name: str, family: str, config: Mapping[str, Any]) -> Path:
        clean = check_name(name)
        available, refused = self.scan(family, config)
        if clean in available:
            return available[clean]
        if clean in refused:
            raise UserError(f"LoRA {name!r} is refused: {refused[clean][1]}")
        for other in self.families(config):
            if other != family and clean in self.available(other, config):
                raise UserError(f"LoRA {name!r} belongs to family {other!r}, not {family!r}")
        known = ", ".join(sorted(available)) or f"none in {self.folder(family, config)}"
        raise UserError(f"unknown LoRA {name!r} for family {family!r}; available: {known}")

    def resolve(self, entries: list[tuple[str, str]], family: str, experts: int, config: Mapping[str, Any]) -> dict[str, Any]:
        """Freeze ``(name, multiplier)`` pairs into a payload: path, sha256, schedule."""
        loras = []
        for name, multiplier in entries:
            phases = parse_multiplier(multiplier, name)
            if len(phases) > experts:
                raise UserError(f"LoRA {name!r}: phases ('{multiplier}') need a model with two experts (Wan 2.2 A14B)")
            path = self.find(name, family, config)
            check_lora_file(name, path)
            loras.append({"name": check_name(name), "path": str(path), "sha256": self.sha256(path),
                          "multiplier": multiplier, "phases": phases})
        return {"family": family, "experts": experts, "loras": loras}

    # ------------------------------------------------------------------ applying

    def verify(self, lora: Mapping[str, Any]) -> Path:
        """The payload's file, if it is still there with the same content."""
        path = Path(lora["path"])
        # A hand-edited record must not smuggle in a pickle, not even behind a link.
        if path.suffix.lower() != SUFFIX or path.resolve().suffix.lower() != SUFFIX:
            raise UserError(f"LoRA {lora.get('name')!r}: only .safetensors files are accepted, not {path.name}")
        if not path.is_file():
            raise UserError(f"LoRA {lora['name']!r} is no longer at {path} (sha256 {lora['sha256'][:12]}...)")
        if self.sha256(path) != lora["sha256"]:
            raise UserError(f"LoRA {lora['name']!r} at {path} has changed since the job was queued (sha256 differs)")
        return path

    @contextlib.contextmanager
    def applied(self, pipe: Any, payload: Mapping[str, Any], context: GenerationContext) -> Iterator[None]:
        """Load the payload's LoRAs into ``pipe`` for one generation; unload them after."""
        loras = list(payload.get("loras") or [])
        if not loras:
            yield
            return
        if not hasattr(pipe, "load_lora_weights"):
            raise UserError(f"{type(pipe).__name__} does not support LoRA")
        experts = [pipe.transformer] + ([pipe.transformer_2] if getattr(pipe, "transformer_2", None) is not None else [])
        paths = [self.verify(lora) for lora in loras]
        names = [f"wgp_lora_{i}" for i in range(len(loras))]
        hook = None
        try:
            for name, path, lora in zip(names, paths, loras):
                try:
                    with _quiet_peft_loader():
                        pipe.load_lora_weights(str(path), adapter_name=name)
                        if len(experts) > 1:
                            pipe.load_lora_weights(str(path), adapter_name=name, load_into_transformer_2=True)
                except Exception as exc:  # noqa: BLE001 - diffusers/peft raise anything (IndexError, RuntimeError, ValueError)
                    raise UserError(f"LoRA {lora['name']!r} ({path}) does not fit this {payload.get('family')} model: "
                                    f"{_first_reason(exc)}; it was made for another model (or another size of "
                                    "this one): remove it from --lora") from None

            def set_weights(step: int, total: int) -> None:
                for index, expert in enumerate(experts):
                    expert.set_adapters(names, weights=[weight_at(l["phases"], index, step, total) for l in loras])

            set_weights(0, 1)
            if any(is_per_step(lora["phases"]) for lora in loras):
                def hook(model: Any, step: int, total: int) -> None:
                    if step < total:  # after step ``step`` (1-based) comes 0-based step ``step``
                        set_weights(step, total)

                context.step_hooks.append(hook)
            context.emit("adapter.applied", adapter="lora", loras=[l["name"] for l in loras],
                         experts=len(experts))
            yield
        finally:
            if hook is not None and hook in context.step_hooks:
                context.step_hooks.remove(hook)
            pipe.unload_lora_weights()


@contextlib.contextmanager
def _quiet_peft_loader() -> Iterator[None]:
    """diffusers logs a failed adapter load on its own (several lines); we report it in one."""
    import logging

    logger = logging.getLogger("diffusers.loaders.peft")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _first_reason(exc: BaseException) -> str:
    """One line from a library error: the first shape mismatch when torch lists them all."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    line = next((item for item in lines if "mismatch" in item), lines[0] if lines else type(exc).__name__).rstrip(".")
    return line if len(line) <= 240 else line[:237] + "..."


#: The header of a safetensors file is at most this big (the format's own limit is 100 MB).
MAX_HEADER = 100_000_000


def check_lora_file(name: str, path: Path) -> None:
    """At the door: ``path`` is a safetensors file holding LoRA tensors (names with ``lora``).

    Only the JSON header is read; whether the LoRA fits the model's layers is known
    when it is loaded (then a UserError too).
    """
    try:
        with open(path, "rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(size)) if 0 < size <= MAX_HEADER else None
    except (OSError, ValueError) as exc:
        raise UserError(f"LoRA {name!r}: {path} is not a readable safetensors file ({exc})") from None
    if not isinstance(header, dict):
        raise UserError(f"LoRA {name!r}: {path} is not a safetensors file (no valid header)")
    tensors = [key for key in header if key != "__metadata__"]
    if not tensors:
        raise UserError(f"LoRA {name!r}: {path} holds no tensors")
    if not any("lora" in key.lower() for key in tensors):
        raise UserError(f"LoRA {name!r}: {path} holds no LoRA tensors (no lora_A/lora_B or lora_down/lora_up "
                        f"names, e.g. {tensors[0]!r}); it is a model or another kind of file")


def check_name(name: str) -> str:
    """A LoRA name as a safe relative path without suffix; hostile names are refused."""
    text = str(name).strip()
    lowered = text.lower()
    if not text or "\x00" in text or "\\" in text:
        raise UserError(f"bad LoRA name {name!r}")
    if lowered.endswith(REFUSED_SUFFIXES):
        raise UserError(f"LoRA {name!r}: only .safetensors files are accepted (pickled weights are refused)")
    if lowered.endswith(SUFFIX):
        text = text[: -len(SUFFIX)]
    path = PurePosixPath(text)
    if path.is_absolute() or text.startswith("~") or any(part in ("..", ".", "") for part in path.parts):
        raise UserError(f"LoRA name {name!r} must be a name inside the LoRA folder, not a path")
    if "." in path.name and path.suffix.lower() not in ("",):
        raise UserError(f"LoRA {name!r}: only .safetensors files are accepted")
    return path.as_posix()


def read_preset(path: str | Path) -> list[tuple[str, str]]:
    """``(name, multiplier)`` pairs from a preset: ``{"loras": [...], "loras_mult": "1 0.5"}``
    (WanGP's .lset) or ``{"loras": [{"name": ..., "multiplier": ...}]}``."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"LoRA preset not found: {p}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"LoRA preset {p} is not valid JSON: {exc}") from None
    items = data.get("loras") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise UserError(f"LoRA preset {p} needs a 'loras' list")
    if all(not isinstance(item, dict) for item in items):
        return wangp_entries(items, data.get("loras_mult") or data.get("loras_multipliers"), f"LoRA preset {p}")
    return [(str(item.get("name", "")), str(item.get("multiplier", 1.0))) if isinstance(item, dict) else (str(item), "1.0")
            for item in items]


def wangp_entries(loras: Any, multipliers: Any, where: str) -> list[tuple[str, str]]:
    """``(name, multiplier)`` pairs from WanGP's ``activated_loras`` (file names, or URLs whose
    file WanGP keeps in its LoRA folder) and ``loras_multipliers``: one multiplier per LoRA,
    separated by spaces, new lines or ``|`` (WanGP's mark between accelerator LoRAs and the
    others); lines starting with ``#`` are comments; a missing multiplier is 1.0."""
    if loras in (None, ""):
        loras = []
    if isinstance(loras, str):
        loras = [loras]
    if not isinstance(loras, list) or not all(isinstance(item, str) for item in loras):
        raise UserError(f"{where}: activated_loras must be a list of LoRA file names")
    if not loras:
        return []  # WanGP keeps the multipliers text when every LoRA is unchecked
    if multipliers is None:
        multipliers = ""
    if isinstance(multipliers, (int, float)) and not isinstance(multipliers, bool):
        multipliers = str(multipliers)
    if not isinstance(multipliers, str):
        raise UserError(f"{where}: loras_multipliers must be a string like '1.0 0.5'")
    lines = [line for line in multipliers.splitlines() if not line.strip().startswith("#")]
    mults = " ".join(lines).replace("|", " ").split()
    if len(mults) > len(loras):
        raise UserError(f"{where}: {len(mults)} LoRA multipliers for {len(loras)} LoRAs")
    names = [item.rsplit("/", 1)[-1] if "://" in item else item for item in loras]
    return [(name, mults[index] if index < len(mults) else "1.0") for index, name in enumerate(names)]
