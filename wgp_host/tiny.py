"""``wgp models tiny``: a family's random-weight builder, written atomically."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from wgp_hookspecs import UserError


def build_tiny(family: Any, spec: Any, folder: str | Path) -> Path:
    """Build into a temporary sibling folder, then rename: no half-written model."""
    if family.build_tiny is None:
        raise UserError(f"model {spec.id} has no tiny builder")
    target = Path(folder).expanduser().resolve()
    if target.exists() and any(target.iterdir()):
        raise UserError(f"{target} exists and is not empty")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".wgp-tiny-", dir=target.parent))
    try:
        family.build_tiny(spec, tmp)
        if target.exists():
            target.rmdir()
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
