"""The README's model table is what the installed first-party plugins register."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _table() -> dict[str, tuple[str, str, str, str]]:
    text = README.read_text(encoding="utf-8").split("## Models", 1)[1]
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = tuple(cells[1:])
        elif rows and not line.startswith("|"):
            break
    return rows


def test_every_model_is_in_the_readme_with_its_capabilities_inputs_and_weights():
    from wgp_host.plugins import PluginHost

    host = PluginHost()
    host.load(entry_points=True)
    expected = {}
    for model_id, (family, spec) in host.registry.models.items():
        flags = sorted(p.cli_flag for p in spec.params if p.is_media and p.cli_flag)
        expected[model_id] = (family.name, ", ".join(sorted(spec.capabilities)),
                              ", ".join(f"`{f}`" for f in flags) or "–", f"`{spec.weights}`" if spec.weights else "–")
    table = _table()
    assert table == expected
    assert len(table) >= 40 and all(re.fullmatch(r"[a-z0-9.\-]+", m) for m in table)
