"""Symlinks in the LoRA folders: a file counts by its real path, which must be a .safetensors file
inside loras_root or a lora_dirs folder.  Real files, real links, the real CLI; no model is loaded."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wgp_hookspecs import UserError

T2V = "wan2.1-t2v-1.3b"


def tiny_lora(tag: str) -> bytes:
    """A real safetensors file (the door reads its header) with one LoRA tensor; ``tag`` makes each distinct."""
    header = json.dumps({"x.lora_A.weight": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                         "__metadata__": {"tag": tag}}).encode()
    return len(header).to_bytes(8, "little") + header + b"\0\0\0\0"


@pytest.fixture
def links(tmp_path):
    """A LoRA root whose wan folder holds plain files and links into and out of the root."""
    root, outside, extra = tmp_path / "loras", tmp_path / "outside", tmp_path / "extra"
    wan, flux = root / "wan", root / "flux"
    for folder in (wan, flux, outside, extra):
        folder.mkdir(parents=True)
    (wan / "plain.safetensors").write_bytes(tiny_lora("plain"))
    (flux / "f.safetensors").write_bytes(tiny_lora("flux"))
    (wan / "real.ckpt").write_bytes(b"pickle")
    (outside / "evil.safetensors").write_bytes(tiny_lora("evil"))
    (outside / "evil.pkl").write_bytes(b"pickle")
    (extra / "ok.safetensors").write_bytes(tiny_lora("extra"))
    for name, target in {
        "inside": wan / "plain.safetensors",      # a link within the family folder
        "sibling": flux / "f.safetensors",        # into another family's folder: still under loras_root
        "extra": extra / "ok.safetensors",        # into a folder the config names (lora_dirs)
        "escape": outside / "evil.safetensors",   # out of every LoRA folder
        "pickle": outside / "evil.pkl",           # a pickle behind a safetensors name
        "inpickle": wan / "real.ckpt",            # the same, inside the root
        "dangling": outside / "gone.safetensors",
    }.items():
        (wan / f"{name}.safetensors").symlink_to(target)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"loras_root": str(root), "lora_dirs": {"ltx": str(extra)}}))
    env = {**os.environ, "WGP_HOME": str(tmp_path / "home"), "WGP_CONFIG": str(config), "HF_HUB_OFFLINE": "1"}
    return {"root": root, "wan": wan, "outside": outside, "extra": extra, "env": env,
            "config": {"loras_root": str(root), "lora_dirs": {"ltx": str(extra)}}}


def wgp(links, *args):
    return subprocess.run([sys.executable, "-m", "wgp_host", *args], capture_output=True, text=True, env=links["env"])


def test_links_resolve_to_real_paths_inside_the_roots(links):
    from wgp_lora.manager import LoRAInjectionManager

    available, refused = LoRAInjectionManager().scan("wan", links["config"])
    wan, extra = links["wan"], links["extra"]
    assert available == {"plain": wan / "plain.safetensors", "inside": wan / "plain.safetensors",
                         "sibling": links["root"] / "flux" / "f.safetensors", "extra": extra / "ok.safetensors"}
    assert sorted(refused) == ["dangling", "escape", "inpickle", "pickle", "real.ckpt"]
    assert "outside the LoRA folders" in refused["escape"][1] and "lora_dirs" in refused["escape"][1]
    assert "only .safetensors" in refused["pickle"][1] and "only .safetensors" in refused["inpickle"][1]
    # Without the lora_dirs entry, its folder is no root: the link to it is refused too.
    alone = LoRAInjectionManager().scan("wan", {"loras_root": links["config"]["loras_root"]})
    assert "extra" not in alone[0] and "outside the LoRA folders" in alone[1]["extra"][1]


def test_wgp_loras_lists_refused_files_as_refused(links):
    proc = wgp(links, "loras", "--json", "--model", T2V)
    assert proc.returncode == 0, proc.stderr
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert {n for n, r in rows.items() if r["status"] == "available"} == {"plain", "inside", "sibling", "extra"}
    assert {n for n, r in rows.items() if r["status"] == "refused"} == {"dangling", "escape", "inpickle", "pickle", "real.ckpt"}
    assert rows["pickle"]["path"] == str(links["wan"] / "pickle.safetensors") and rows["pickle"]["reason"]
    assert rows["inside"]["path"] == str(links["wan"] / "plain.safetensors")
    text = wgp(links, "loras", "--model", T2V).stdout
    assert any(line.split()[1:3] == ["escape", "refused"] for line in text.splitlines())


@pytest.mark.parametrize("name", ["escape", "pickle", "inpickle", "dangling"])
def test_queue_add_refuses_a_link_out_of_the_roots_in_one_line(links, name):
    proc = wgp(links, "queue", "add", "-m", T2V, "-p", "x", "--lora", name)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"LoRA '{name}' is refused" in proc.stderr
    listed = wgp(links, "queue", "list", "--json")
    assert json.loads(listed.stdout) == []  # nothing was queued


def test_an_accepted_link_is_frozen_as_its_real_file(links):
    proc = wgp(links, "run", "-m", T2V, "-p", "x", "--lora", "inside:0.5", "--lora", "extra", "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    loras = json.loads(proc.stdout)["adapters"]["lora"]["loras"]
    assert [(l["name"], l["path"]) for l in loras] == [
        ("inside", str(links["wan"] / "plain.safetensors")), ("extra", str(links["extra"] / "ok.safetensors"))]
    assert loras[0]["sha256"] == hashlib.sha256(tiny_lora("plain")).hexdigest()


def test_a_replayed_payload_cannot_point_a_link_at_a_pickle(links, tmp_path):
    from wgp_lora.manager import LoRAInjectionManager

    link = tmp_path / "looks-fine.safetensors"
    link.symlink_to(links["outside"] / "evil.pkl")
    lora = {"name": "x", "path": str(link), "sha256": hashlib.sha256(b"pickle").hexdigest()}
    with pytest.raises(UserError, match="only .safetensors"):
        LoRAInjectionManager().verify(lora)


@pytest.mark.parametrize("content, message", [
    (b"", "is not a safetensors file"),
    (b"plain bytes, no header", "is not a safetensors file"),
    (len(b"{}").to_bytes(8, "little") + b"{}", "holds no tensors"),
    (None, "holds no LoRA tensors"),
])
def test_a_file_that_is_no_lora_is_refused_at_the_door(links, content, message):
    """Only the header is read (no model loaded); the job is not queued."""
    if content is None:  # a model's weights, not a LoRA
        header = json.dumps({"blocks.0.weight": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
        content = len(header).to_bytes(8, "little") + header + b"\0\0\0\0"
    (links["wan"] / "broken.safetensors").write_bytes(content)
    proc = wgp(links, "queue", "add", "-m", T2V, "-p", "x", "--lora", "broken")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "LoRA 'broken': " in proc.stderr and message in proc.stderr and "broken.safetensors" in proc.stderr
    assert json.loads(wgp(links, "queue", "list", "--json").stdout) == []


def test_a_dry_run_shows_the_loras_the_job_would_use(links):
    proc = wgp(links, "run", "-m", T2V, "-p", "x", "--lora", "inside:0.5", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["model"] == T2V and shown["params"]["prompt"] == "x"  # the request, as before
    (lora,) = shown["adapters"]["lora"]["loras"]
    assert (lora["name"], lora["path"], lora["multiplier"]) == ("inside", str(links["wan"] / "plain.safetensors"), "0.5")
    assert lora["sha256"] == hashlib.sha256(tiny_lora("plain")).hexdigest()
    plain = json.loads(wgp(links, "run", "-m", T2V, "-p", "x", "--dry-run").stdout)
    assert plain["adapters"] == {}
