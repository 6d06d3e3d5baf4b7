"""Weights that are neither cached nor reachable are one line, also when HF_HUB_OFFLINE is not set.

Without network (here: a hub endpoint that refuses connections) diffusers logs two lines
about falling back to the cache and then raises an error pointing at a traceback the user
never sees; wgp says, in one line, that the repo is not cached, why the hub failed and how
to fetch it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

CODE = """
import diffusers, torch
from wgp_hookspecs import UserError
from wgp_diffusers.diffusion import load_pipeline
try:
    load_pipeline(diffusers.LTXPipeline, "wgp-tests/not-a-model", torch.float32)
except UserError as exc:
    print(exc)
"""


def test_an_unreachable_hub_and_an_empty_cache_give_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "DIFFUSERS_", "TRANSFORMERS_"))}
    # A loopback port nothing listens on: the connection is refused at once, no test waits on a timeout.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env.update(HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT=f"http://127.0.0.1:{port}", HF_HUB_DISABLE_TELEMETRY="1")
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no "Couldn't connect to the Hub" / "Will try to load from local cache"
    [line] = proc.stdout.splitlines()
    assert line.startswith("cannot load weights from wgp-tests/not-a-model: it is not in the local Hugging Face "
                           "cache, and asking the hub failed (")
    assert "stacktrace" not in line and "`huggingface-cli download wgp-tests/not-a-model`" in line
