"""The layers hold: plugins import only what they declare, and never the host.

Every distribution under plugins/ and contrib/ (and hookspecs/) is parsed, not
imported: each ``import`` in its non-test modules (function-level ones too) must
be the standard library, the package itself, or a distribution its
``pyproject.toml`` lists.  ``wgp_host`` is never one of them: what a plugin needs
from the host is the :class:`wgp_hookspecs.Host` interface.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = sorted(p.parent for p in [*ROOT.glob("plugins/*/pyproject.toml"), *ROOT.glob("contrib/*/pyproject.toml"),
                                          ROOT / "hookspecs" / "pyproject.toml"])
#: Imports a distribution may make without listing them: torch is installed by the user,
#: pinned to the build for their accelerator (an unpinned torch would pull a CUDA wheel).
UNLISTED = {"torch"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    return _norm(re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0])


def project(folder: Path) -> tuple[str, list[str], set[str]]:
    """(distribution name, its packages, the distributions it depends on)."""
    data = tomllib.loads((folder / "pyproject.toml").read_text())
    packages = data.get("tool", {}).get("setuptools", {}).get("packages") or []
    deps = {_requirement_name(r) for r in data["project"].get("dependencies", [])}
    # An optional extra is declared too: the code imports it only where its feature is asked for.
    deps |= {_requirement_name(r) for extra in data["project"].get("optional-dependencies", {}).values() for r in extra}
    return data["project"]["name"], list(packages), deps


def imports(folder: Path, packages: list[str]) -> dict[str, set[str]]:
    """Top-level module name -> the files that import it, over the packages' non-test modules."""
    found: dict[str, set[str]] = {}
    for package in packages:
        for file in sorted((folder / package.replace(".", "/")).rglob("*.py")):
            if "tests" in file.relative_to(folder).parts or file.name.startswith("test_"):
                continue
            for node in ast.walk(ast.parse(file.read_text(), str(file))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(file.relative_to(folder).as_posix())
    return found


def test_every_first_party_distribution_is_checked():
    names = {project(folder)[0] for folder in DISTRIBUTIONS}
    assert {"wgp-hookspecs", "wgp-diffusers", "wgp-wan", "wgp-flux", "wgp-ltx", "wgp-matanyone", "wgp-lora",
            "wgp-manifest", "wgp-echo", "wgp-prompt-enhancer", "wgp-celery", "wgp-hunyuan", "wgp-zimage", "wgp-qwen",
            "wgp-minimax", "wgp-http"} <= names


@pytest.mark.parametrize("folder", DISTRIBUTIONS, ids=lambda f: f.name)
def test_plugin_runtime_code_never_imports_the_host(folder):
    name, packages, _ = project(folder)
    offenders = sorted(imports(folder, packages).get("wgp_host", set()))
    assert not offenders, f"{name} imports wgp_host in {', '.join(offenders)}; use the wgp_hookspecs.Host interface"


@pytest.mark.parametrize("folder", DISTRIBUTIONS, ids=lambda f: f.name)
def test_plugin_declares_what_it_imports(folder):
    name, packages, deps = project(folder)
    owners = packages_distributions()
    own = {p.split(".")[0] for p in packages}
    missing = {}
    for module, files in imports(folder, packages).items():
        if module in own or module in sys.stdlib_module_names or module in UNLISTED or module == "__future__":
            continue
        provided_by = {_norm(d) for d in owners.get(module, [])}
        if not provided_by & deps:
            missing[module] = (sorted(provided_by) or ["not installed"], sorted(files))
    assert not missing, f"{name}: imports not declared in pyproject.toml: " + "; ".join(
        f"{module} (from {', '.join(dists)}) in {', '.join(files)}" for module, (dists, files) in sorted(missing.items())
    )


def test_the_checker_sees_function_level_imports(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text("def f():\n    from wgp_host.runtime import initialize_runtime\n    import click\n")
    (package / "tests").mkdir()
    (package / "tests" / "test_x.py").write_text("import wgp_host.testing\n")
    found = imports(tmp_path, ["pkg"])
    assert set(found) == {"wgp_host", "click"}  # the test module is not runtime code
