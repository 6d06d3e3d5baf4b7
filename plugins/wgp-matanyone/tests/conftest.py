"""Shared fixtures: one random-weight network per session, single-threaded torch (deterministic
and fast on busy machines; subprocesses get OMP_NUM_THREADS=1 so their alphas match ours)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def net():
    """A random-weight MatAnyone (the same weights ``wgp models tiny`` writes)."""
    from wgp_matanyone.network import MatAnyone

    return MatAnyone().init_random(0)
