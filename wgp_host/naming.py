"""File names from templates such as ``{date}_{time}_seed{seed}_{prompt:40}``.

Every field is reduced to safe characters, so no prompt can escape the output
folder, hide a file, or make a name the filesystem refuses.
"""

from __future__ import annotations

import re
import time
import unicodedata
from typing import Any, Mapping

from wgp_hookspecs import UserError

FIELDS = ("date", "time", "seed", "prompt", "model", "steps", "frames", "resolution", "job")
MAX_STEM = 120
_FIELD = re.compile(r"\{([a-z_]+)(?::(\d+))?\}")
#: Any braced group, field or not (a template may hold no other braces).
_BRACED = re.compile(r"\{[^{}]*\}")
#: Underscores outside braces separate the parts that an empty field drops.
_SEPARATOR = re.compile(r"_(?![^{]*\})")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def template_fields(request_params: Mapping[str, Any], model: str, job: str, now: float | None = None) -> dict[str, Any]:
    stamp = time.localtime(now if now is not None else time.time())
    width, height = request_params.get("width"), request_params.get("height")
    return {
        "date": time.strftime("%Y-%m-%d", stamp),
        "time": time.strftime("%H-%M-%S", stamp),
        "seed": request_params.get("seed", ""),
        "prompt": request_params.get("prompt") or "",
        "model": model,
        "steps": request_params.get("steps", ""),
        "frames": request_params.get("frames", ""),
        "resolution": f"{width}x{height}" if width and height else "",
        "job": job,
    }


def check_template(template: str, where: str = "config filename_template") -> None:
    """Refuse a template whose braces are not all fields: ``{prompt:abc}`` would otherwise
    name every output ``prompt_abc``.  ``where`` says where the template was set."""
    if not isinstance(template, str) or not template.strip():
        raise UserError(f"filename template {template!r} ({where}) is empty; e.g. {{date}}_{{time}}_{{prompt:40}}")
    for match in _BRACED.finditer(template):
        field = _FIELD.fullmatch(match.group(0))
        name = field.group(1) if field else None
        if name is not None and name not in FIELDS:
            raise UserError(f"filename template field {{{name}}} is unknown ({where}); fields: {', '.join(FIELDS)}")
        if field is None or (field.group(2) is not None and int(field.group(2)) == 0):
            raise UserError(f"filename template {template!r} ({where}): {match.group(0)} is not a field; write "
                            f"{{NAME}} or {{NAME:N}} (at most N characters, N from 1), NAME one of {', '.join(FIELDS)}")
    if "{" in _BRACED.sub("", template) or "}" in _BRACED.sub("", template):
        raise UserError(f"filename template {template!r} ({where}) has an unmatched brace")


def safe_text(text: str) -> str:
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    text = _UNSAFE.sub("_", text.replace("\x00", ""))
    return re.sub(r"_+", "_", text)


def render_stem(template: str, fields: Mapping[str, Any]) -> str:
    """Render ``template``; ``{name:N}`` keeps at most N characters of the field.

    A part of the template between underscores whose fields are all empty is left
    out with its text: a job without a seed (matting) gets ``..._clip`` rather than
    ``..._seed_clip``.
    """
    check_template(template)

    def substitute(match: re.Match[str]) -> str:
        value = safe_text(fields.get(match.group(1), ""))
        if match.group(2):
            value = value[: int(match.group(2))]
        return value.strip("_")

    parts = []
    for part in _SEPARATOR.split(template):
        values = [substitute(m) for m in _FIELD.finditer(part)]
        if values and not any(values):
            continue
        parts.append(_FIELD.sub(substitute, part))
    stem = safe_text("_".join(parts))
    stem = stem.strip("._-")[:MAX_STEM].strip("._-")
    return stem or "output"
