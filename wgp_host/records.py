"""Reading the generation record back from an output file or its JSON sidecar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wgp_hookspecs import UserError

from .defaults.image import PNG_KEY


def read_record(path: str | Path) -> dict[str, Any]:
    """The record embedded in ``path`` (MP4/MKV/MOV tags, PNG text, WAV/FLAC comment), or in its sidecar."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"file not found: {path}")
    if p.suffix == ".json":  # a sidecar given directly
        record = _parse(_read_text(p), p)
        if record is None:
            raise UserError(f"{path} is not a wgp sidecar (no generation record in it)")
        return record
    candidates = [p.with_name(p.name + ".json"), p.with_suffix(".json")]
    for sidecar in candidates:
        if sidecar.is_file() and sidecar != p and not _describes_other_file(sidecar, p):
            record = _parse(_read_text(sidecar), sidecar)
            if record is not None:
                return record
    text = _embedded(p)
    record = _parse(text, p) if text else None
    if record is None:
        raise UserError(f"{path} carries no wgp generation record (written with --metadata-mode none?)")
    return record


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None


def _describes_other_file(sidecar: Path, media: Path) -> bool:
    """A sidecar left from an earlier file of the same name (its sha256 differs) is ignored."""
    try:
        recorded = json.loads(sidecar.read_text(encoding="utf-8")).get("artifact", {}).get("sha256")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False
    if not recorded:
        return False
    from .atomic import sha256_file

    return sha256_file(media) != recorded


def _parse(text: str, where: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise UserError(f"{where}: the wgp record is not valid JSON") from None
    if isinstance(data, dict) and isinstance(data.get("record"), dict):
        data = data["record"]
    return data if isinstance(data, dict) and isinstance(data.get("request"), dict) else None


def _embedded(p: Path) -> str | None:
    suffix = p.suffix.lower()
    try:
        if suffix == ".png":
            from PIL import Image

            with Image.open(p) as img:
                return img.text.get(PNG_KEY) if hasattr(img, "text") else None
        if suffix == ".zip":
            import zipfile

            with zipfile.ZipFile(p) as archive:
                return archive.comment.decode("utf-8") or None
        if suffix in (".wav", ".flac"):
            import soundfile

            with soundfile.SoundFile(str(p)) as fh:
                return fh.comment or None
        import av

        with av.open(str(p)) as container:
            # Matroska upper-cases tag names; MP4/MOV keep them as written.
            tags = {key.lower(): value for key, value in container.metadata.items()}
            return tags.get("comment")
    except (OSError, ValueError, RuntimeError, __import__("zipfile").BadZipFile) as exc:
        raise UserError(f"cannot read {p}: {exc}") from None
