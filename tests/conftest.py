from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_wgp(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120, **kw):
    """Run `python -m wgp_host ARGS` in a fresh process."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "wgp_host", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        **kw,
    )


@pytest.fixture
def home_env(wgp_env: Path) -> dict[str, str]:
    """Environment for subprocesses: the isolated WGP_HOME of `wgp_env`."""
    return {"WGP_HOME": str(wgp_env), "HF_HUB_OFFLINE": "1"}
