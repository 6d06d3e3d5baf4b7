"""Bad input, across every command: one line, exit 2, no traceback, nothing written, nothing queued.

Each case runs the real CLI in process (click, the plugin host with every installed plugin,
the runtime, the door in ``wgp_host.submit``) against real files: broken media made with
Pillow and PyAV, config files on disk, a damaged SQLite database.  What the command left
behind is compared with what was there before: no output, no temporary, no changed config,
no queued job.  Two controls (a good run writes, a good ``queue add`` queues) prove that the
checks see a write.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from wgp_host import plugins
from wgp_host.cli import cli
from wgp_host.testing import BAD_IMAGE_MESSAGES, BAD_VIDEO_MESSAGES, assert_one_line_error

RUN = ["run", "-m", "echo", "-p", "x", "--frames", "2", "--output-dir", "{out}"]
ADD = ["queue", "add", "-m", "echo", "-p", "x", "--frames", "2", "--output-dir", "{out}"]
MATTE_RUN = ["run", "-m", "matanyone", "--output-dir", "{out}"]
MATTE_ADD = ["queue", "add", "-m", "matanyone", "--output-dir", "{out}"]
JOB_COMMANDS = {"run": RUN, "add": ADD}

# --------------------------------------------------------------------------- the cases

IMAGES, VIDEOS = BAD_IMAGE_MESSAGES, BAD_VIDEO_MESSAGES


def _media_cases() -> list[Any]:
    cases = []
    for kind, said in IMAGES.items():
        for name, base in JOB_COMMANDS.items():
            cases.append(pytest.param({"args": [*base, "--image-start", f"{{{kind}}}"],
                                       "needles": ["--image-start: ", f"{{{kind}}}", said]}, id=f"{name}-image-start-{kind}"))
        cases.append(pytest.param({"args": [*RUN, "--set", f"image_start={{{kind}}}"],
                                   "needles": ["--image-start: ", f"{{{kind}}}", said]}, id=f"run-set-image_start-{kind}"))
        cases.append(pytest.param({"args": [*ADD, "--settings", "{settings}"], "settings": {"image_start": f"{{{kind}}}"},
                                   "needles": ["--image-start: ", f"{{{kind}}}", said, "(from settings file)"]},
                                  id=f"add-settings-image_start-{kind}"))
        cases.append(pytest.param({"args": [*MATTE_ADD, "--set", "video={mp4}", "--set", f"mask={{{kind}}}"],
                                   "needles": ["mask: ", f"{{{kind}}}", said]}, id=f"add-matanyone-mask-{kind}"))
    for kind, said in VIDEOS.items():
        for name, base in (("run", MATTE_RUN), ("add", MATTE_ADD)):
            cases.append(pytest.param({"args": [*base, "--set", f"video={{{kind}}}", "--set", "mask={png}"],
                                       "needles": ["video: ", f"{{{kind}}}", said]}, id=f"{name}-matanyone-video-{kind}"))
    for kind, said in (("zero", "is empty"), ("missing", "file not found")):
        cases.append(pytest.param({"args": ["queue", "add", "-m", "wan2.1-t2v-1.3b", "-p", "x", "--transformer-file", f"{{{kind}}}"],
                                   "needles": ["--transformer-file: ", f"{{{kind}}}", said]}, id=f"add-transformer-file-{kind}"))
    return cases


#: Config files (content, or None for a --config naming no file) and what the line says.
CONFIGS = {
    "missing": (None, "not found (named by --config)"),
    "zero-byte": (b"", "is empty; write a JSON object"),
    "blank": (b" \n\t\n", "is empty; write a JSON object"),
    "binary": (bytes(range(128, 256)), "is not UTF-8 text"),
    "not-json": (b"{oops", "is not valid JSON"),
    "a-list": (b"[1, 2]", "must hold a JSON object"),
    "output_dir-null": ({"output_dir": None}, "'output_dir' must be a folder path"),
    "output_dir-number": ({"output_dir": 5}, "'output_dir' must be a folder path"),
    "output_dir-empty": ({"output_dir": ""}, "'output_dir' must be a folder path"),
    "state_dir-list": ({"state_dir": ["a"]}, "'state_dir' must be a folder path"),
    "writers-string": ({"writers": "video"}, "'writers' must be a list of strings"),
    "crf-string": ({"crf": "20"}, "'crf' must be an integer from 0 to 51"),
    "crf-too-big": ({"crf": 99}, "'crf' must be an integer from 0 to 51"),
    "max_retries-negative": ({"max_retries": -1}, "'max_retries' must be an integer of at least 0"),
    "control_port-too-big": ({"control_port": 70000}, "'control_port' must be an integer from 0 to 65535"),
    "model_paths-number": ({"model_paths": {"echo": 5}}, "model_paths['echo'] must be a folder"),
}
#: Config values only the door of a job looks at.
JOB_CONFIGS = {
    "template-bad-width": ({"filename_template": "{prompt:abc}"}, "{prompt:abc} is not a field"),
    "template-zero-width": ({"filename_template": "{date}_{prompt:0}"}, "{prompt:0} is not a field"),
    "template-unknown": ({"filename_template": "{nope}"}, "{nope} is unknown"),
    "template-unmatched": ({"filename_template": "{prompt"}, "unmatched brace"),
    "template-empty": ({"filename_template": ""}, "'filename_template' must be a non-empty string"),
    "metadata_mode-xml": ({"metadata_mode": "xml"}, "metadata mode must be one of"),
    "seed-in-defaults": ({"defaults": {"seed": -4}}, "--seed: must be at least -1 (got -4) (from config defaults)"),
    "seed-in-model_defaults": ({"model_defaults": {"echo": {"seed": -9}}}, "(from config model_defaults[echo])"),
}


def _config_cases() -> list[Any]:
    cases = []
    commands = {"run": RUN, "add": ADD, "status": ["queue", "status"], "list": ["queue", "list"]}
    for case, (content, said) in CONFIGS.items():
        for name, base in commands.items():
            cases.append(pytest.param({"args": [*base, "--config", "{cfg}"], "config": content, "needles": [said]},
                                      id=f"{name}-config-{case}"))
    for case, (content, said) in JOB_CONFIGS.items():
        for name, base in JOB_COMMANDS.items():
            cases.append(pytest.param({"args": [*base, "--config", "{cfg}"], "config": content, "needles": [said]},
                                      id=f"{name}-config-{case}"))
    # The config wgp finds by itself (WGP_HOME), not named on the command line.
    cases.append(pytest.param({"args": RUN, "home_config": b"", "needles": ["is empty"]}, id="run-home-config-zero-byte"))
    cases.append(pytest.param({"args": ["queue", "list"], "home_config": b"\xff\xfe", "needles": ["is not UTF-8"]},
                              id="list-home-config-binary"))
    return cases


#: Environment variables and what the line says.
ENVIRONMENTS = {
    "WGP_CRF-word": ({"WGP_CRF": "abc"}, "WGP_CRF must be an integer (got 'abc')"),
    "WGP_CRF-too-big": ({"WGP_CRF": "99"}, "'crf' must be an integer from 0 to 51 (got 99 from environment variable WGP_CRF)"),
    "WGP_MAX_RETRIES-word": ({"WGP_MAX_RETRIES": "many"}, "WGP_MAX_RETRIES must be an integer"),
    "WGP_CONTROL_PORT-word": ({"WGP_CONTROL_PORT": "eighty"}, "WGP_CONTROL_PORT must be an integer"),
    "WGP_OUTPUT_DIR-empty": ({"WGP_OUTPUT_DIR": ""}, "'output_dir' must be a folder path"),
    "WGP_DEFAULTS-not-json": ({"WGP_DEFAULTS": "{seed: 1"}, "WGP_DEFAULTS must be a JSON object"),
    "WGP_CONFIG-missing": ({"WGP_CONFIG": "{home}/nope.json"}, "not found (named by WGP_CONFIG)"),
    "WGP_FILENAME_TEMPLATE-bad": ({"WGP_FILENAME_TEMPLATE": "{prompt:abc}"},
                                  "(config filename_template, from environment variable WGP_FILENAME_TEMPLATE)"),
}


def _environment_cases() -> list[Any]:
    return [pytest.param({"args": base, "env": env, "needles": [said]}, id=f"{name}-env-{case}")
            for case, (env, said) in ENVIRONMENTS.items() for name, base in JOB_COMMANDS.items()]


#: Queue commands on a damaged database file.
DB_COMMANDS = {
    "add": ADD,
    "status": ["queue", "status"],
    "status-job": ["queue", "status", "abc123"],
    "list": ["queue", "list"],
    "cancel": ["queue", "cancel", "abc123"],
    "retry": ["queue", "retry", "abc123"],
    "clear": ["queue", "clear"],
    "pause": ["queue", "pause"],
    "resume": ["queue", "resume"],
    "work": ["queue", "work", "--once"],
}


def _queue_cases() -> list[Any]:
    cases = [pytest.param({"args": base, "database": "damaged", "needles": ["queue database", "is damaged", "move it aside"]},
                          id=f"{name}-damaged-database") for name, base in DB_COMMANDS.items()]
    for value in (str(2**70), str(-(2**70)), str(2**63)):
        cases.append(pytest.param({"args": [*ADD, "--priority", value], "needles": ["--priority", "is not in the range"]},
                                  id=f"add-priority-{value[:6]}"))
    cases.append(pytest.param({"args": ["queue", "status", "nosuchjob"], "needles": ["no job 'nosuchjob'"]},
                              id="status-unknown-job"))
    return cases


def _small_hole_cases() -> list[Any]:
    cases = []
    prompts = {"empty": ["-p", ""], "blank": ["-p", "   "], "set-empty": ["--set", "prompt="]}
    for model in ("echo", "echo-image", "echo-audio"):
        for case, extra in prompts.items():
            for name, verb in (("run", ["run"]), ("add", ["queue", "add"])):
                cases.append(pytest.param({"args": [*verb, "-m", model, *extra, "--output-dir", "{out}"],
                                           "needles": ["--prompt: must not be empty"]}, id=f"{name}-{model}-prompt-{case}"))
    cases.append(pytest.param({"args": ["run", "-m", "echo", "--settings", "{settings}", "--output-dir", "{out}"],
                               "settings": {"prompt": ""}, "needles": ["--prompt: must not be empty", "(from settings file)"]},
                              id="run-settings-prompt-empty"))
    cases.append(pytest.param({"args": ["queue", "add", "-m", "echo", "--config", "{cfg}"], "config": {"defaults": {"prompt": " "}},
                               "needles": ["--prompt: must not be empty", "(from config defaults)"]},
                              id="add-config-defaults-prompt-blank"))
    seeds = {"flag-2": ["--seed", "-2"], "flag-5": ["--seed", "-5"], "set-3": ["--set", "seed=-3"]}
    for case, extra in seeds.items():
        for name, base in JOB_COMMANDS.items():
            cases.append(pytest.param({"args": [*base, *extra], "needles": ["--seed: must be at least -1"]},
                                      id=f"{name}-seed-{case}"))
    cases.append(pytest.param({"args": [*ADD, "--settings", "{settings}"], "settings": {"seed": -7},
                               "needles": ["--seed: must be at least -1 (got -7) (from settings file)"]}, id="add-settings-seed-7"))
    for device in ("tpu", "cuda:x", "gpu"):
        for name, base in JOB_COMMANDS.items():
            cases.append(pytest.param({"args": [*base, "--device", device], "needles": ["--device: must be auto, cpu"]},
                                      id=f"{name}-echo-device-{device}"))
        cases.append(pytest.param({"args": [*MATTE_ADD, "--set", "video={mp4}", "--set", "mask={png}", "--device", device],
                                   "needles": ["--device: must be auto, cpu"]}, id=f"add-matanyone-device-{device}"))
    return cases


CASES = [*_media_cases(), *_config_cases(), *_environment_cases(), *_queue_cases(), *_small_hole_cases()]


# --------------------------------------------------------------------------- running a case


@pytest.fixture(scope="module")
def loaded_host() -> plugins.PluginHost:
    """Every installed plugin, loaded once for the module (loading per case would be most of the time)."""
    host = plugins.PluginHost()
    host.load(entry_points=True)
    return host


@pytest.fixture
def world(wgp_env: Path, loaded_host: plugins.PluginHost, wgp_bad_media: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    plugins.reset_host(loaded_host)
    return {"home": wgp_env, "media": wgp_bad_media, "root": tmp_path}


def _fill(value: str, names: dict[str, str]) -> str:
    for key, replacement in names.items():
        value = value.replace("{" + key + "}", replacement)
    return value


def prepare(case: dict[str, Any], world: dict[str, Any]) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Write what the case needs (config, settings, database); its arguments, environment and file names."""
    root, home = world["root"], world["home"]
    names = {**world["media"], "out": str(root / "out"), "cfg": str(root / "case-config.json"),
             "settings": str(root / "settings.json"), "home": str(home)}
    home.mkdir(parents=True, exist_ok=True)
    content = case.get("config")
    if content is not None:
        data = content if isinstance(content, bytes) else json.dumps(content).encode()
        Path(names["cfg"]).write_bytes(data)
    if "home_config" in case:
        (home / "wgp_config.json").write_bytes(case["home_config"])
    if "settings" in case:
        settings = {k: _fill(v, names) if isinstance(v, str) else v for k, v in case["settings"].items()}
        Path(names["settings"]).write_text(json.dumps(settings))
    if case.get("database") == "damaged":
        (home / "state").mkdir(parents=True, exist_ok=True)
        (home / "state" / "queue.db").write_bytes(b"not a database, just bytes " * 100)
    env = {k: _fill(v, names) for k, v in case.get("env", {}).items()}
    return [_fill(arg, names) for arg in case["args"]], env, names


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and mtime, but the plugin-command cache (not an output)."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
            if p.is_file() and "cache" not in p.relative_to(root).parts}


def queued_jobs(home: Path) -> int:
    db = home / "state" / "queue.db"
    if not db.exists() or db.read_bytes().startswith(b"not a database"):
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT count(*) FROM jobs").fetchone()[0]
        except sqlite3.OperationalError:  # no table: the file was created, never used
            return 0


def invoke(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner(env=env).invoke(cli, args, catch_exceptions=False, prog_name="wgp")


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(case, world):
    args, env, names = prepare(case, world)
    before = snapshot(world["root"])
    result = invoke(args, env)
    assert_one_line_error(result, *(_fill(needle, names) for needle in case["needles"]))
    after = snapshot(world["root"])
    written = {path for path in after if before.get(path) != after[path]}
    # The queue database may be created (queue status JOB opens it); a job in it may not.
    written = {path for path in written if Path(path).name not in ("queue.db", "queue.db-wal", "queue.db-shm")}
    assert not written, written
    assert queued_jobs(world["home"]) == 0
    assert not list(world["root"].rglob(".wgp-tmp-*"))


def test_the_battery_is_large_and_covers_every_command():
    assert len(CASES) >= 100
    commands = {" ".join(c.values[0]["args"][:2]) if c.values[0]["args"][0] == "queue" else c.values[0]["args"][0]
                for c in CASES}
    assert {"run", "queue add", "queue status", "queue list", "queue cancel", "queue retry", "queue clear",
            "queue pause", "queue resume", "queue work"} <= commands


def test_the_checks_see_a_real_run_write_and_a_real_add_queue(world):
    """The controls: the same commands with good inputs write files and queue a job."""
    args, env, _ = prepare({"args": [*RUN, "--image-start", "{png}"]}, world)
    before = snapshot(world["root"])
    result = invoke(args, env)
    assert result.exit_code == 0, result.stderr
    assert {p for p in snapshot(world["root"]) if p not in before}
    args, env, _ = prepare({"args": [*ADD, "--image-start", "{png}"]}, world)
    assert invoke(args, env).exit_code == 0
    assert queued_jobs(world["home"]) == 1


def test_a_damaged_database_is_left_as_it_was(world):
    args, env, _ = prepare({"args": ["queue", "status"], "database": "damaged"}, world)
    db = world["home"] / "state" / "queue.db"
    data = db.read_bytes()
    line = assert_one_line_error(invoke(args, env), str(db), f"mv {db} {db}.broken")
    assert "state_dir" in line  # ... and the other way out
    assert db.read_bytes() == data and sorted(p.name for p in db.parent.iterdir()) == ["queue.db"]


def test_media_are_verified_before_the_job_is_queued_not_by_the_worker(world):
    """A file that breaks after `queue add` is the worker's problem; one broken before is refused at the door."""
    image = world["root"] / "start.png"
    image.write_bytes(Path(world["media"]["png"]).read_bytes())
    args, env, _ = prepare({"args": [*ADD, "--image-start", str(image)]}, world)
    assert invoke(args, env).exit_code == 0
    image.write_bytes(image.read_bytes()[:-200])
    assert_one_line_error(invoke(args, env), "--image-start: ", "is a damaged image")
    assert queued_jobs(world["home"]) == 1


def test_a_missing_config_is_not_created(world):
    cfg = world["root"] / "typo.json"
    args, env, _ = prepare({"args": [*RUN, "--config", str(cfg)]}, world)
    assert_one_line_error(invoke(args, env), str(cfg), "--config")
    assert not cfg.exists() and not (world["root"] / "out").exists()
    # `wgp config path` only says where a config would be: naming a new one there is fine.
    assert invoke(["config", "path", "--config", str(cfg)], {}).stdout.strip() == str(cfg)


def test_good_config_values_still_work(world):
    """The type rules refuse mistakes, not values: null where null is the default, env numbers."""
    args, env, _ = prepare({"args": [*RUN, "--config", "{cfg}"], "config": {"crf": None, "image_output_dir": None,
                                                                         "filename_template": "{prompt:8}_{seed}"},
                         "env": {"WGP_CRF": "30", "WGP_MAX_RETRIES": "2"}}, world)
    result = invoke(args, env)
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in (world["root"] / "out").iterdir())
    assert names and all(name.startswith("x_") for name in names), names
    shown = json.loads(invoke(["config", "show", "--config", args[-1]], {"WGP_CRF": ""}).stdout)
    assert shown["config"]["crf"] is None  # WGP_CRF= sets it back to its default


def _no_room(limit: int) -> None:
    """In the child: files may not grow past ``limit`` bytes (EFBIG, as a full disk gives ENOSPC)."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def _wgp_with_no_room(args: list[str], home: Path, limit: int) -> Any:
    import subprocess
    import sys

    env = {**os.environ, "WGP_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "wgp_host", *args], capture_output=True, text=True, env=env,
                          preexec_fn=lambda: _no_room(limit), timeout=120)


@pytest.mark.parametrize("model, args, suffix", [
    ("echo-audio", ["--set", "duration_s=3"], ".wav"),  # libsndfile: "System error." on its own
    ("echo", ["--frames", "40", "--resolution", "128x128", "--writer", "video"], ".mp4"),  # FFmpeg
])
def test_a_write_that_finds_no_room_is_one_line_naming_the_file_and_leaves_nothing(world, model, args, suffix):
    out = world["root"] / "out"
    proc = _wgp_with_no_room(["run", "-m", model, "-p", "x", *args, "--output-dir", str(out)], world["home"], 20_000)
    line = assert_one_line_error(proc, "cannot write ", f"{suffix} in {out}: File too large", "--output-dir")
    assert "LibsndfileError" not in line and "System error" not in line
    assert out.is_dir() and list(out.iterdir()) == []


def test_queue_status_on_a_disk_with_no_room_names_the_database_and_the_fix(world):
    home = world["home"]
    args, env, _ = prepare({"args": [*ADD]}, world)
    assert invoke(args, env).exit_code == 0  # the database exists, its -wal and -shm are gone
    proc = _wgp_with_no_room(["queue", "status"], home, 0)
    assert_one_line_error(proc, f"cannot open the queue database {home / 'state' / 'queue.db'}", "state_dir")
    assert "disk I/O error" in proc.stderr and "OperationalError" not in proc.stderr
