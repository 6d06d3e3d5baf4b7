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


def check_template(template: str) -> None:
    for match in _FIELD.finditer(template):
        if match.group(1) not in FIELDS:
            raise UserError(f"filename template field {{{match.group(1)}}} is unknown; fields: {', '.join(FIELDS)}")


def safe_text(text: str) -> str:
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    text = _UNSAFE.sub("_", text.replace("\x00", ""))
    return re.sub(r"_+", "_", text)


def render_stem(template: str, fields: Mapping[str, Any]) -> str:
    """Render ``template``; ``{name:N}`` keeps at most N characters of the field."""
    check_template(template)

    def substitute(match: re.Match[str]) -> str:
        value = safe_text(fields.get(match.group(1), ""))
        if match.group(2):
            value = value[: int(match.group(2))]
        return value.strip("_")

    stem = safe_text(_FIELD.sub(substitute, template))
    stem = stem.strip("._-")[:MAX_STEM].strip("._-")
    return stem or "output"
