from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def home_env(wgp_env: Path) -> dict[str, str]:
    """Environment for subprocesses: the isolated WGP_HOME of `wgp_env`."""
    return {"WGP_HOME": str(wgp_env), "HF_HUB_OFFLINE": "1"}
