"""A plugin author's environment, layered over the test environment.

A virtual environment whose site-packages also reads the test environment's (everything
installed there, torch included, is importable), so what a test installs into it, a
rendered plugin project, stays out of the environment the rest of the suite runs in and
is gone with the folder.  ``wgp``, ``pip`` and ``pytest`` on its ``PATH`` run its Python;
pip is kept off the network (``PIP_NO_INDEX``) and builds with the setuptools already
installed, so nothing can replace torch and no install waits on a download.
"""

from __future__ import annotations

import os
import site
import subprocess
import venv
from pathlib import Path

_SHIMS = {"wgp": "wgp_host.cli:main", "pip": "pip._internal.cli.main:main", "pytest": "pytest:main"}


class AuthorEnv:
    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        venv.EnvBuilder(symlinks=os.name != "nt", with_pip=False).create(root)
        self.bin = root / ("Scripts" if os.name == "nt" else "bin")
        self.python = self.bin / ("python.exe" if os.name == "nt" else "python")
        purelib = subprocess.run([str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        # addsitedir, not a bare path: the test environment's own .pth files (editable installs) apply too.
        Path(purelib, "_wgp_test_environment.pth").write_text(
            "".join(f"import site; site.addsitedir({p!r})\n" for p in site.getsitepackages())
        )
        for name, target in _SHIMS.items():
            module, _, function = target.partition(":")
            shim = self.bin / name
            shim.write_text(f"#!{self.python}\nimport sys\nfrom {module} import {function}\nsys.exit({function}())\n")
            shim.chmod(0o755)
        self.env = {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(root),
            "WGP_HOME": str(home),
            "HF_HUB_OFFLINE": "1",
            "PIP_NO_INDEX": "1",
            "PIP_NO_BUILD_ISOLATION": "0",  # pip's spelling of --no-build-isolation
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        for name in ("PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST", "WGP_CONFIG", "WGP_LOAD_PLUGINS", "WGP_DISABLED_PLUGINS"):
            self.env.pop(name, None)

    def run(self, *args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
        """``args`` with this environment's ``PATH`` (``wgp``, ``pip``, ``pytest`` are its own)."""
        return subprocess.run(list(args), cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout)

    def shell(self, script: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
        """A bash script, each command stopping it on failure, as an author would type it."""
        return self.run("bash", "-euo", "pipefail", "-c", script, cwd=cwd, timeout=timeout)

    def install(self, *projects: Path, cwd: Path) -> subprocess.CompletedProcess:
        """``pip install --no-deps -e`` each project (one pip run): no dependency is resolved, so
        nothing can replace what the test environment holds (torch above all)."""
        args = [arg for project in projects for arg in ("-e", str(project))]
        return self.run(str(self.python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet", *args, cwd=cwd)
