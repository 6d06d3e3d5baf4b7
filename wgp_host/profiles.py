"""Profiles: the family's own (``ModelFamily.profiles``) and the user's (JSON files).

A user profile is a JSON object in the profiles folder (config ``profiles_dir``,
``WGP_HOME/profiles`` under a wgp home): ``{"name", "family", "description",
"models", "params", "plan", "adapters"}``.  A user profile with a family
profile's name replaces it for that family, so a deployment can retune a
shipped profile without forking the plugin.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from wgp_hookspecs import Profile, UserError

_KEYS = {"name", "family", "description", "models", "params", "plan", "adapters", "source"}


def user_profiles(folder: str | Path | None) -> list[tuple[str, Profile]]:
    """(family, profile) for each ``*.json`` in ``folder``; a malformed file is a one-line error."""
    if not folder or not Path(folder).is_dir():
        return []
    out = []
    for file in sorted(Path(folder).glob("*.json")):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"profile {file}: not readable JSON ({exc})") from None
        if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not isinstance(data.get("family"), str):
            raise UserError(f"profile {file}: needs a JSON object with string 'name' and 'family'")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise UserError(f"profile {file}: unknown key {', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}")
        for key in ("params", "plan", "adapters"):
            if not isinstance(data.get(key, {}), dict):
                raise UserError(f"profile {file}: '{key}' must be an object")
        out.append((data["family"], Profile(
            name=data["name"], description=str(data.get("description", "")), models=tuple(data.get("models") or ()),
            params=dict(data.get("params") or {}), plan=dict(data.get("plan") or {}),
            adapters=dict(data.get("adapters") or {}), source=str(data.get("source") or file),
        )))
    return out


def profiles_for(family: Any, model_id: str, folder: str | Path | None) -> dict[str, Profile]:
    """The profiles that apply to ``model_id``: the family's, then the user's (which win)."""
    found = {p.name: p for p in family.profiles if p.applies_to(model_id)}
    for family_name, profile in user_profiles(folder):
        if family_name == family.name and profile.applies_to(model_id):
            found[profile.name] = profile
    return found


def resolve_profile(family: Any, spec: Any, name: str | None, folder: str | Path | None) -> Profile | None:
    if not name:
        return None
    found = profiles_for(family, spec.id, folder)
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise UserError(f"--profile {name!r}: no such profile for {spec.id}; available: {known} (see `wgp profiles {spec.id}`)")
    return found[name]
