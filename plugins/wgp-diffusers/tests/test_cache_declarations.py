"""Which step caches a model takes: declared once per model or family, refused at the door in one
line (``levers.check_cache``), and the ``fast`` profile built from the declaration."""

from __future__ import annotations

import json

import pytest

from wgp_diffusers import define_family
from wgp_diffusers.levers import CACHES, check_cache, refusing, usable_caches
from wgp_host.testing import assert_one_line_error
from wgp_hookspecs import ModelSpec, Param, UserError


def _spec(id: str, **options: object) -> ModelSpec:
    return ModelSpec(id, frozenset({"text-to-image"}), (Param("prompt", "str", required=True),), options=options)


def test_a_refused_cache_is_one_line_naming_the_cache_the_model_and_what_runs():
    spec = _spec("m", refused_caches=refusing(("fbcache", "pab"), "its blocks are odd"))
    with pytest.raises(UserError) as caught:
        check_cache(spec, "fbcache")
    assert str(caught.value) == ("--cache fbcache does not run on m: its blocks are odd; "
                                 "caches that run on it: taylorseer, magcache, seacache, textkv")
    check_cache(spec, "taylorseer")  # not refused
    with pytest.raises(UserError, match="; no step cache runs on it$"):
        check_cache(_spec("n", refused_caches=refusing(tuple(CACHES), "none fit")), "textkv")
    with pytest.raises(ValueError, match="not a cache"):
        refusing(("fastcache",), "typo")


def test_fast_follows_the_declaration_per_model():
    plain, odd, other = _spec("plain"), _spec("odd", refused_caches=refusing(("fbcache",), "x")), _spec("other")
    family = define_family("fam", "fam", (plain, odd, other, _spec("inert", fast_cache=None)), refused_caches={})
    fast = [p for p in family.profiles if p.name == "fast"]
    assert [(p.plan["cache"], p.models) for p in fast] == [("fbcache", ("plain", "other")), ("taylorseer", ("odd",))]
    # A family-wide declaration reaches every model (a model's own wins), and leaves no fast when nothing runs.
    family = define_family("fam", "fam", (plain, odd), refused_caches=refusing(tuple(CACHES), "no hooks"))
    assert all(usable_caches(m) == () for m in family.models)
    assert [p.name for p in family.profiles] == ["quality"]
    assert family.models[1].options["refused_caches"]["fbcache"] == "x"


def test_fast_profile_runs_at_the_door_on_every_model_that_has_one(wgp_cli, wgp_required_inputs):
    models = json.loads(wgp_cli("models", "--json").output)
    fast = {row["model"]: row["plan"]["cache"] for row in json.loads(wgp_cli("profiles", "--json").output)
            if row["name"] == "fast"}
    ids = {m["id"] for m in models}
    # The families whose transformers refuse First Block Cache get TaylorSeer, Z-Image none at all.
    expected = {"flux.2-dev": "taylorseer", "flux.1-dev": "fbcache", "wan2.2-animate-14b": None,
                "ltx-2": "taylorseer", "wan2.1-t2v-1.3b": "fbcache"}
    assert {k: fast.get(k) for k in expected if k in ids} == {k: v for k, v in expected.items() if k in ids}
    assert not any(mid.startswith("z-image") for mid in fast)
    checked = 0
    for model in models:
        if model["id"] not in fast:
            continue
        result = wgp_cli("run", "-m", model["id"], "-p", "x", "--profile", "fast", *wgp_required_inputs(model), "--dry-run")
        assert result.exit_code == 0, (model["id"], result.output)
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize(("model", "cache", "runs"), [
    ("flux.2-klein-4b", "fbcache", "caches that run on it: taylorseer, magcache, seacache, pab, textkv"),
    ("z-image-turbo", "taylorseer", "no step cache runs on it"),
    ("ltx-2", "pab", "caches that run on it: taylorseer, textkv"),
])
def test_a_refused_cache_is_refused_at_the_door(wgp_cli, model, cache, runs):
    ids = {m["id"] for m in json.loads(wgp_cli("models", "--json").output)}
    if model not in ids:
        pytest.skip(f"{model} is not installed")
    result = wgp_cli("run", "-m", model, "-p", "x", "--cache", cache, "--dry-run")
    assert_one_line_error(result, f"--cache {cache} does not run on {model}: ", runs)
