"""docs/http.md: its curl examples run against the real server and worker, and say what they claim."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

from conftest import Api

DOC = Path(__file__).resolve().parents[3] / "docs" / "http.md"


def curl_script() -> str:
    text = DOC.read_text(encoding="utf-8").split("## With curl", 1)[1]
    return "\n".join(re.findall(r"```sh\n(.*?)```", text, flags=re.S))


def test_curl_examples_run(api: Api, tmp_path: Path) -> None:
    script = curl_script()
    assert script.count("curl") >= 15
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "WGP_URL": api.url, "WGP_TOKEN": api.token})
    assert done.returncode == 0, done.stderr + done.stdout
    out = done.stdout
    lines = out.splitlines()
    assert lines[0] == "echo", out
    job = next(line.split()[1] for line in lines if line.startswith("queued "))
    digest = hashlib.sha256((tmp_path / "fox.png").read_bytes()).hexdigest()
    assert f"{digest}  fox.png" in lines and digest in lines, out  # the listed sha256 is the file's
    assert "event: job.finished" in out and "finished" in lines, out
    assert lines.count(job) == 1, out  # the idempotent resubmit printed the same id
    assert '"field":"params.steps"' in out.replace(" ", ""), out
    assert "already finished" in out, out
    assert [x for x in lines if x in ("True", "False")] == ["True", "False"], out
    assert "3" in lines, out  # the batch's jobs
    assert "completed" in lines and (tmp_path / "wave.mp4").stat().st_size > 0, out
