"""Every distribution of the repository is publishable, and they all follow one dependency rule.

The static checks read each ``pyproject.toml``; the release check builds every sdist and
wheel as ``python -m build`` does (``--no-isolation``: the installed setuptools, no
download), from a copy of the distribution's folder so the tree stays untouched, and runs
``twine check`` on all of them.  The version policy is hookspecs/README.md, "Versions".
"""

from __future__ import annotations

import concurrent.futures
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = sorted(
    [ROOT, ROOT / "hookspecs", *(p.parent for p in ROOT.glob("plugins/*/pyproject.toml")),
     *(p.parent for p in ROOT.glob("contrib/*/pyproject.toml"))],
    key=lambda p: p.as_posix(),
)
#: Left out of the copies that are built: what is not the distribution's (caches, build output,
#: the other distributions nested in the repository root).
IGNORED = shutil.ignore_patterns("*.egg-info", "__pycache__", "build", "dist", ".venv*", ".git", ".pytest_cache",
                                 ".hypothesis", "tiny", "out", "outputs")
NESTED = {"hookspecs", "plugins", "contrib", "tests", "benchmarks", "docs"}


def pyproject(folder: Path) -> dict:
    return tomllib.loads((folder / "pyproject.toml").read_text())["project"]


def requirement(spec: str) -> tuple[str, str]:
    """(normalised name, version specifier) of a requirement string; extras dropped."""
    match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*(\[[^\]]*\])?\s*([^;]*)", spec)
    assert match, spec
    return re.sub(r"[-_.]+", "-", match.group(1)).lower(), match.group(3).replace(" ", "")


def compatible_range(version: str) -> str:
    """The policy's range for a plugin built against ``version``: ``>=0.N,<0.(N+1)`` before 1.0."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return f">={major}.{minor},<{major}.{minor + 1}" if major == 0 else f">={major}.{minor},<{major + 1}"


def hookspecs_range() -> str:
    return compatible_range(pyproject(ROOT / "hookspecs")["version"])


def test_the_distribution_list_is_what_the_repository_holds():
    names = {pyproject(folder)["name"] for folder in DISTRIBUTIONS}
    assert {"wgp-host", "wgp-hookspecs", "wgp-diffusers", "wgp-wan", "wgp-echo"} <= names
    assert len(names) == len(DISTRIBUTIONS)


@pytest.mark.parametrize("folder", DISTRIBUTIONS, ids=lambda f: f.name if f != ROOT else "wgp-host")
def test_metadata_is_complete(folder):
    meta = pyproject(folder)
    assert meta.get("description") and meta.get("version")
    assert (folder / meta["readme"]).is_file()
    assert meta["license"] == "Apache-2.0" and meta["license-files"] == ["LICENSE"]
    assert (folder / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()  # one licence text, copied
    assert meta["requires-python"] == ">=3.10"
    classifiers = meta["classifiers"]
    assert {f"Programming Language :: Python :: 3.{minor}" for minor in (10, 11, 12, 13)} <= set(classifiers)
    assert not [c for c in classifiers if c.startswith("License ::")]  # the SPDX expression says it
    urls = meta["urls"]
    assert {"Homepage", "Repository", "Issues", "Changelog", "Documentation"} <= set(urls)
    base = pyproject(ROOT)["urls"]["Repository"]
    assert all(url.startswith(base) for url in urls.values()), urls
    documented = urls["Documentation"].removeprefix(base + "/blob/main/")
    assert (ROOT / documented).is_file(), documented


@pytest.mark.parametrize("folder", DISTRIBUTIONS, ids=lambda f: f.name if f != ROOT else "wgp-host")
def test_one_dependency_rule(folder):
    """wgp-hookspecs in the policy's range; wgp-diffusers too where a family builds on it; never wgp-host."""
    meta = pyproject(folder)
    deps = dict(requirement(spec) for spec in meta.get("dependencies", []))
    if meta["name"] == "wgp-hookspecs":
        return
    assert deps.get("wgp-hookspecs") == hookspecs_range(), meta["name"]
    assert "wgp-host" not in deps, f"{meta['name']}: a plugin never depends on wgp-host at run time"
    if "wgp-diffusers" in deps:
        assert deps["wgp-diffusers"] == compatible_range(pyproject(ROOT / "plugins" / "wgp-diffusers")["version"])
    for extra, specs in meta.get("optional-dependencies", {}).items():
        for name, spec in map(requirement, specs):
            if name in ("wgp-host", "wgp-diffusers", "wgp-hookspecs"):
                assert spec, f"{meta['name']}[{extra}] pins {name} to no range"


def test_the_host_ships_every_package_and_the_templates():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {p.parent.relative_to(ROOT).as_posix().replace("/", ".") for p in (ROOT / "wgp_host").rglob("__init__.py")}
    missing = sorted(packages - set(setuptools["packages"]))
    assert not missing, f"add {', '.join(missing)} to [tool.setuptools] packages in pyproject.toml"
    assert setuptools["package-dir"] == {"wgp_host.templates": "templates"}


def _build(folder: Path, work: Path) -> tuple[str, subprocess.CompletedProcess, Path]:
    name = pyproject(folder)["name"]
    source = work / "src" / name

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = set(IGNORED(directory, names))
        if folder == ROOT and Path(directory) == ROOT:
            skipped |= NESTED & set(names)  # the repository root holds the other distributions
        return skipped

    shutil.copytree(folder, source, ignore=ignore)
    out = work / "dist" / name
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
                          capture_output=True, text=True, timeout=300)
    return name, proc, out


def test_every_distribution_builds_an_sdist_and_a_wheel_that_pass_twine_check(tmp_path):
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        built = list(pool.map(lambda folder: _build(folder, tmp_path), DISTRIBUTIONS))
    failed = {name: proc.stdout[-1500:] + proc.stderr[-1500:] for name, proc, _ in built if proc.returncode}
    assert not failed, failed
    files = sorted(f for _, _, out in built for f in out.iterdir())
    assert len(files) == 2 * len(DISTRIBUTIONS)
    check = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, files)],
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    for name, _, out in built:
        [wheel] = out.glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
            text = archive.read(metadata).decode()
        assert "License-Expression: Apache-2.0" in text and "Requires-Python: >=3.10" in text, name
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), name
        if name == "wgp-host":
            shipped = {n.removeprefix("wgp_host/templates/") for n in names if n.startswith("wgp_host/templates/")}
            expected = {p.relative_to(ROOT / "templates").as_posix() for p in (ROOT / "templates").rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts}
            assert shipped == expected  # `wgp plugin new` works from the wheel
