"""The host's modules form no import cycle, and ``wgp --help`` imports no plugin at all."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "wgp_host"


def module_name(file: Path) -> str:
    parts = list(file.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_level_imports(file: Path, modules: set[str]) -> set[str]:
    """The wgp_host modules ``file`` imports when it is imported (function bodies excluded)."""
    name = module_name(file)
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.parse(file.read_text()).body:
        if isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks never run
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for target in targets:
            if target in modules and target != name:
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    files = {module_name(f): f for f in PACKAGE.rglob("*.py")}
    return {name: module_level_imports(file, set(files)) for name, file in files.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            # importing a package runs its __init__ first: a submodule importing its parent is no cycle
            if node.startswith(nxt + "."):
                continue
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_the_host_has_no_import_cycles():
    edges = graph()
    assert "wgp_host.cli.queue" in edges and "wgp_host.cli" in edges
    assert cycles(edges) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a.x": {"a.y"}, "a.y": {"a.x"}}) == [["a.x", "a.y", "a.x"]]
    assert cycles({"a": set(), "a.b": {"a"}}) == []  # a submodule importing its package


def test_help_imports_no_plugin_module_and_no_torch(tmp_path):
    code = (
        "import sys\nfrom wgp_host.cli import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "import json\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'pluggy', 'diffusers', 'numpy') or (m.startswith('wgp_') and m.split('.')[0] not in ('wgp_host', 'wgp_hookspecs')))))"
    )
    env = {"WGP_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert "matanyone" in out.stdout  # the plugin commands were listed (from metadata) ...
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []  # ... without importing any plugin, pluggy or torch


def _help(env: dict[str, str]) -> tuple[str, list[str]]:
    code = (
        "import sys\nfrom wgp_host.cli import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('METADATA', 'importlib.metadata' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    return out, [line for line in out.splitlines() if line.startswith("METADATA")]


def test_plugin_command_list_is_cached_and_a_new_distribution_invalidates_it(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    env = {"WGP_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(site)}
    first, flag = _help(env)
    assert flag == ["METADATA True"]  # the first start reads the metadata ...
    second, flag = _help(env)
    assert flag == ["METADATA False"] and "matanyone" in second  # ... later ones read the cache
    assert "newtool" not in second
    info = site / "wgp_newtool-1.0.dist-info"
    info.mkdir()  # a distribution installed into a folder on sys.path changes its mtime
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: wgp-newtool\nVersion: 1.0\nSummary: a new tool\n")
    (info / "entry_points.txt").write_text("[wgp.commands]\nnewtool = wgp_newtool:cmd\n")
    third, flag = _help(env)
    assert flag == ["METADATA True"] and "newtool" in third and "a new tool [wgp-newtool]" in third


def test_builtin_summaries_match_their_commands_and_help_imports_no_command_module(tmp_path):
    import importlib

    from wgp_host.cli import BUILTINS

    for name, (module, attribute, summary) in BUILTINS.items():
        command = getattr(importlib.import_module(f"wgp_host.cli.{module}"), attribute)
        assert " ".join((command.help or "").split("\n\n")[0].split()) == summary, name
        assert command.name == name
    code = (
        "import sys\nfrom wgp_host.cli import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('LOADED', sorted(m for m in sys.modules if m.startswith('wgp_host.cli.')))"
    )
    env = {"WGP_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert "queue    " in out or "queue " in out  # listed ...
    loaded = out.strip().splitlines()[-1]
    assert loaded == "LOADED ['wgp_host.cli.common']"  # ... from the table, no command module imported
