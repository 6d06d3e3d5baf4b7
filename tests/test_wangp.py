"""Coming from WanGP: its settings files (``wgp run --settings``) and saved queues (``wgp queue import``).

The files are built here from WanGP's documented formats (docs/SETTINGS.md, docs/LORAS.md,
docs/CLI.md and docs/API.md of github.com/deepbeepmeep/Wan2GP).  Jobs are validated at the
door without loading a model; the LoRA and pipeline runs are in plugins/wgp-lora/tests.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from wgp_hookspecs import Adapter, hookimpl
from wgp_host.testing import assert_one_line_error

T2V = "wan2.1-t2v-1.3b"


def wangp_settings(**changes):
    settings = {
        "prompt": "a fox in the snow", "negative_prompt": "blurry", "resolution": "832x480", "video_length": 33,
        "num_inference_steps": 12, "guidance_scale": 4.5, "flow_shift": 3.0, "seed": 42,
        "activated_loras": [], "loras_multipliers": "", "model_type": "t2v_1.3B", "base_model_type": "t2v_1.3B",
        "settings_version": 2.35, "repeat_generation": 1, "sample_solver": "unipc", "type": "WanGP v9.0",
    }
    settings.update(changes)
    return {k: v for k, v in settings.items() if v is not None}


def write(path: Path, data) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def dry_run(wgp_cli, *args):
    result = wgp_cli("run", "--dry-run", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def test_every_wangp_model_type_names_an_installed_model(wgp_env):
    from wgp_host.plugins import get_host
    from wgp_host.wangp import MODEL_TYPES

    host = get_host()
    for wangp_name, model_id in MODEL_TYPES.items():
        _, spec = host.model(model_id)
        assert spec.id == model_id, wangp_name


def test_wangp_settings_file_runs_through_aliases_and_warns_once_about_the_rest(wgp_cli, tmp_path):
    job, stderr = dry_run(wgp_cli, "--settings", write(tmp_path / "s.json", wangp_settings()))
    params = job["request"]["params"]
    assert job["request"]["model"] == T2V
    assert {k: params[k] for k in ("prompt", "negative_prompt", "width", "height", "frames", "steps", "guidance",
                                   "flow_shift", "seed")} == {
        "prompt": "a fox in the snow", "negative_prompt": "blurry", "width": 832, "height": 480, "frames": 33,
        "steps": 12, "guidance": 4.5, "flow_shift": 3.0, "seed": 42}
    warnings = [line for line in stderr.splitlines() if "WanGP-only" in line]
    # model_type & co. are read, the LoRA keys go to the LoRA adapter: only what nothing takes is named.
    assert warnings == [f"wgp: warning: settings file {tmp_path / 's.json'}: ignored WanGP-only keys: "
                        "repeat_generation, sample_solver, type"]
    # flags still win over the file
    job, _ = dry_run(wgp_cli, "--settings", str(tmp_path / "s.json"), "--steps", "3")
    assert job["request"]["params"]["steps"] == 3


def test_a_finetune_maps_through_its_base_model_type_and_unknown_types_are_refused(wgp_cli, tmp_path):
    job, _ = dry_run(wgp_cli, "--settings", write(tmp_path / "f.json", wangp_settings(model_type="my_fusionx_t2v")))
    assert job["request"]["model"] == T2V
    bad = write(tmp_path / "bad.json", wangp_settings(model_type="hunyuan", base_model_type="hunyuan"))
    line = assert_one_line_error(wgp_cli("run", "--settings", bad, "--dry-run"), "'hunyuan'", "known WanGP model types:",
                                 "t2v_1.3B", "ti2v_2_2", "flux_schnell")
    assert "has no wgp model" in line
    # -m names the model: the WanGP model_type is not needed then
    job, _ = dry_run(wgp_cli, "--settings", bad, "-m", T2V)
    assert job["request"]["model"] == T2V


def test_a_wangp_value_that_does_not_fit_the_model_is_refused_naming_the_file(wgp_cli, tmp_path):
    path = write(tmp_path / "s.json", wangp_settings(video_length=32))
    assert_one_line_error(wgp_cli("run", "--settings", path, "--dry-run"), "frames", "(from settings file)")


class ClaimingAdapter(Adapter):
    """Takes a settings key the way the LoRA adapter takes WanGP's activated_loras."""

    name = "claims"
    settings_keys = ("activated_loras",)

    def resolve(self, request, options):
        return {"got": options.get("activated_loras")} if options.get("activated_loras") else None


class ClaimingPlugin:
    @hookimpl
    def register_adapters(self, register):
        register(ClaimingAdapter)


def test_settings_keys_an_adapter_claims_reach_it_and_not_the_request(make_wgp_host, wgp_cli, tmp_path):
    from wgp_echo import plugin as echo

    make_wgp_host(echo, ClaimingPlugin())
    path = write(tmp_path / "s.json", {"model": "echo-image", "params": {"prompt": "x", "activated_loras": ["a", "b"]}})
    job, _ = dry_run(wgp_cli, "--settings", path)
    assert job["adapters"] == {"claims": {"got": ["a", "b"]}}
    assert "activated_loras" not in job["request"]["params"]
    # an unclaimed unknown key in a wgp (not WanGP) file is still an error
    path = write(tmp_path / "t.json", {"model": "echo-image", "params": {"prompt": "x", "loras_multipliers": "1"}})
    assert_one_line_error(wgp_cli("run", "--settings", path, "--dry-run"), "no parameter loras_multipliers")


# --------------------------------------------------------------------------- wgp queue import


def queue_zip(path: Path, tasks, files=None, raw_names=()) -> str:
    """A WanGP saved queue: queue.json (tasks with their settings under "params") and attached files."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("queue.json", json.dumps([{"id": i, "params": t} for i, t in enumerate(tasks, 1)]))
        for name, data in (files or {}).items():
            archive.writestr(name, data)
        for name in raw_names:
            archive.writestr(zipfile.ZipInfo(name), b"x")
    return str(path)


def queued(wgp_cli):
    result = wgp_cli("queue", "list", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def imports_dir(wgp_env: Path) -> Path:
    from wgp_host.runtime import initialize_runtime

    return Path(initialize_runtime(None).state_dir) / "imports"


def test_queue_import_validates_every_task_and_copies_images_into_the_state_folder(wgp_cli, wgp_env, wgp_test_images,
                                                                                   tmp_path):
    image = Path(wgp_test_images["a"]).read_bytes()
    path = queue_zip(tmp_path / "queue.zip", [
        wangp_settings(prompt="first"),
        wangp_settings(prompt="second", model_type="ti2v_2_2", base_model_type="ti2v_2_2", resolution="64x64",
                       video_length=9, image_start=["task2_image_start.png"]),
    ], files={"task2_image_start.png": image})
    result = wgp_cli("queue", "import", path, "--json")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["batch"].startswith("batch-") and len(out["jobs"]) == 2
    assert result.stderr.count("ignored WanGP-only keys") == 1  # the same warning for every task, once
    rows = queued(wgp_cli)
    assert [(r["model"], r["prompt"], r["state"]) for r in rows] == [
        (T2V, "first", "queued"), ("wan2.2-ti2v-5b", "second", "queued")]
    status = json.loads(wgp_cli("queue", "status", out["batch"], "--json").stdout)
    assert status["jobs"] == 2
    # the job names a copy under the state folder, not the zip or a temporary folder
    Path(path).unlink()
    start = _job_params(out["jobs"][1])["image_start"]
    assert Path(start).is_relative_to(imports_dir(wgp_env) / out["batch"]) and Path(start).read_bytes() == image


def _job_params(job_id):
    from wgp_host.cli.queue import open_backend
    from wgp_host.runtime import initialize_runtime

    backend = open_backend(initialize_runtime(None))
    try:
        [row] = [r for r in backend.rows() if r["id"] == job_id]
    finally:
        backend.close()
    return row["job"]["request"]["params"]


@pytest.mark.parametrize("make, needles", [
    (lambda d: queue_zip(d / "q.zip", [wangp_settings(), wangp_settings(video_length=32)]),
     ("task 2:", "frames")),
    (lambda d: queue_zip(d / "q.zip", [wangp_settings(), wangp_settings(model_type="hunyuan", base_model_type=None)]),
     ("task 2:", "'hunyuan'", "known WanGP model types")),
    (lambda d: queue_zip(d / "q.zip", [wangp_settings(), {"prompt": "no model"}]), ("task 2:", "no model_type")),
    (lambda d: queue_zip(d / "q.zip", [wangp_settings()], raw_names=["../evil.png"]), ("'../evil.png'", "not a plain path")),
    (lambda d: queue_zip(d / "q.zip", [wangp_settings()], raw_names=["/abs.png"]), ("'/abs.png'", "not a plain path")),
    (lambda d: queue_zip(d / "q.zip", [wangp_settings(model_type="ti2v_2_2", image_start="gone.png")]),
     ("task 1:", "image_start 'gone.png' is not in the zip")),
    (lambda d: str(d / "missing.zip"), ("not found",)),
    (lambda d: write(d / "q.zip", {"not": "a zip"}), ("not a WanGP queue zip",)),
])
def test_queue_import_is_all_or_nothing_with_one_line_errors(wgp_cli, wgp_env, tmp_path, make, needles):
    result = wgp_cli("queue", "import", make(tmp_path))
    assert_one_line_error(result, *needles)
    assert queued(wgp_cli) == []
    assert not imports_dir(wgp_env).exists() or not any(imports_dir(wgp_env).iterdir())


def test_queue_import_refuses_oversized_members_even_when_the_zip_lies(wgp_cli, wgp_env, tmp_path, monkeypatch):
    from wgp_host import wangp_queue

    monkeypatch.setattr(wangp_queue, "MAX_MEMBER_BYTES", 1000)
    path = queue_zip(tmp_path / "q.zip", [wangp_settings(image_start="big.png")], files={"big.png": b"\0" * 5000})
    assert_one_line_error(wgp_cli("queue", "import", path), "'big.png'", "1000")
    assert queued(wgp_cli) == []
