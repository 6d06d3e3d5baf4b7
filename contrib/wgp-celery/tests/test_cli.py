"""The same `wgp queue` commands, run against the SQLite backend and the celery backend (a real
redis-server), give the same answers."""

from __future__ import annotations

import json
import re

from celery_testing import FAST


def transcript(wgp_cli, out) -> list[str]:
    """Every control command without a worker; ids and times made comparable."""
    lines: list[str] = []

    def run(*args: str) -> str:
        result = wgp_cli(*args)
        text = (result.stdout + result.stderr).strip()
        lines.append(f"{' '.join(args[:3])} -> {result.exit_code}: {text}")
        return result.stdout.strip()

    add = ("queue", "add", "-m", "echo", "-p", "same", "--steps", "1", "--resolution", "8x8", "--frames", "1",
           "--output-dir", str(out))
    ids = [run(*add, "--priority", str(p)) for p in (0, 7, 0)]
    listed = json.loads(run("queue", "list", "--json"))
    lines.append(str([(ids.index(j["id"]), j["state"], j["priority"], j["model"], j["prompt"]) for j in listed]))
    status = json.loads(run("queue", "status", "--json"))
    lines.append(str((status["via"], status["state"], status["paused"], status["workers"], status["counts"], status["running"])))
    one = json.loads(run("queue", "status", ids[1], "--json"))
    lines.append(str((one["state"], one["priority"], one["attempts"], one["worker"], one["cancel_requested"])))
    run("queue", "cancel", ids[0])
    run("queue", "cancel", ids[0])
    run("queue", "retry", ids[0])
    run("queue", "retry", ids[1])
    run("queue", "pause")
    lines.append(str(json.loads(run("queue", "status", "--json"))["paused"]))
    run("queue", "resume")
    run("queue", "pause", "--worker", "gpu-box-1")
    run("queue", "resume", "--worker", "gpu-box-1")
    run("queue", "clear")
    run("queue", "list")
    run("queue", "cancel", "nosuch")
    run("queue", "status", "nosuch")
    text = "\n".join(lines)
    for n, job_id in enumerate(ids):
        text = text.replace(job_id, f"<job{n}>")
    return re.sub(r"\d+\.\d+", "<time>", text).splitlines()


def test_the_queue_commands_answer_alike_on_sqlite_and_celery(wgp_env, wgp_cli, redis_url, tmp_path):
    config = wgp_env / "wgp_config.json"
    wgp_env.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"queue_backend": "sqlite"}))
    sqlite = transcript(wgp_cli, tmp_path / "a")
    config.write_text(json.dumps({"queue_backend": "celery", "queue_options": {"url": redis_url, **FAST}}))
    celery = transcript(wgp_cli, tmp_path / "b")
    assert celery == sqlite
    # What the transcript holds (so that two equally broken backends cannot pass).
    assert "queue cancel <job0> -> 0: cancelled <job0>" in sqlite
    assert "queue cancel <job0> -> 2: wgp: error: job <job0> is already cancelled" in sqlite
    assert "queue retry <job1> -> 2: wgp: error: job <job1> is queued; only failed, cancelled or interrupted jobs can be retried" in sqlite
    assert "queue clear -> 0: cleared 3 queued jobs" in sqlite and "queue list -> 0: no jobs" in sqlite
    assert "[(1, 'queued', 7, 'echo', 'same'), (0, 'queued', 0, 'echo', 'same'), (2, 'queued', 0, 'echo', 'same')]" not in sqlite
    assert "[(0, 'queued', 0, 'echo', 'same'), (1, 'queued', 7, 'echo', 'same'), (2, 'queued', 0, 'echo', 'same')]" in sqlite
    assert "queue pause --worker -> 0: paused worker gpu-box-1: its current jobs finish, it starts no new one" in sqlite
    assert "True" in sqlite


def test_a_bad_redis_url_is_one_line_and_exit_2(wgp_env, wgp_cli):
    wgp_env.mkdir(parents=True, exist_ok=True)
    (wgp_env / "wgp_config.json").write_text(json.dumps({"queue_backend": "celery", "queue_options": {"url": "redis://127.0.0.1:1/0"}}))
    for args in (("queue", "list"), ("queue", "status"), ("queue", "work", "--models", "echo")):
        result = wgp_cli(*args)
        assert result.exit_code == 2 and result.stderr.count("\n") == 1, (args, result.stderr)
        assert "cannot reach Redis at redis://127.0.0.1:1/0" in result.stderr
    result = wgp_cli("queue", "work", "--models", "nope")
    assert result.exit_code == 2 and "--models: unknown model 'nope'" in result.stderr


def test_a_sweep_on_celery_rolls_up_and_wait_returns_when_it_is_done(backend, wgp_cli, tmp_path):
    from celery_testing import served
    from wgp_celery.worker import in_process_worker

    added = wgp_cli("queue", "add", "-m", "echo", "-p", "fox", "--resolution", "8x8", "--frames", "1", "--writer", "video",
                    "--set", "audio=false", "--sweep", "seed=1..3", "--sweep", "steps=1,3", "--output-dir", str(tmp_path / "out"))
    assert added.exit_code == 0, added.stderr
    batch = added.stdout.strip()
    queued = json.loads(wgp_cli("queue", "status", batch, "--json").stdout)
    assert (queued["jobs"], queued["counts"]["queued"], queued["total_steps"], queued["done"]) == (6, 6, 12, False)
    service, _ = served(backend)
    with in_process_worker(backend, service):
        waited = wgp_cli("queue", "wait", batch, "--interval", "0.05")
    assert waited.exit_code == 0 and waited.stdout.strip() == f"{batch}: finished 6", waited.output
    done = json.loads(wgp_cli("queue", "status", batch, "--json").stdout)
    assert (done["counts"]["finished"], done["steps"], done["progress"], done["done"]) == (6, 12, 1.0, True)
    assert len(list((tmp_path / "out").iterdir())) == 6
