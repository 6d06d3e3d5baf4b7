"""Config assembly: layers, validation messages, seed resolution."""

from __future__ import annotations

import pytest

from wgp_hookspecs import ModelFamily, ModelSpec, Param, ParameterError, UserError
from wgp_host.assembly import assemble_request, parse_set

SPEC = ModelSpec(
    id="toy",
    capabilities=frozenset({"text-to-video"}),
    params=(
        Param("prompt", "str", required=True),
        Param("seed", "int", -1),
        Param("steps", "int", 30, minimum=1),
        Param("frames", "int", 81, multiple_of=4, remainder=1, minimum=1),
        Param("guidance", "float", 5.0),
        Param("sampler", "str", "euler", choices=("euler", "unipc")),
        Param("tiled", "bool", False),
    ),
)
FAMILY = ModelFamily(name="toy", models=(SPEC,), load=lambda spec, plan: None)


def assemble(**layers):
    return assemble_request(FAMILY, SPEC, **layers)[0].params


def test_layers_in_order():
    params = assemble(
        settings={"prompt": "s", "steps": 10, "guidance": 1.0, "frames": 9},
        config_defaults={"steps": 20, "unrelated": 1},  # global defaults skip unknown keys
        model_defaults={"guidance": 2.0},
        flags={"frames": 17},
    )
    assert (params["prompt"], params["steps"], params["guidance"], params["frames"]) == ("s", 20, 2.0, 17)


def test_seed_is_resolved_and_kept():
    assert 0 <= assemble(flags={"prompt": "x"})["seed"] < 2**32
    assert assemble(flags={"prompt": "x", "seed": 42})["seed"] == 42


@pytest.mark.parametrize("flags, message", [
    ({"frames": 80}, "frames: must be 4n+1 (got 80; nearest valid: 77 or 81)"),
    ({"steps": 0}, "steps: must be at least 1"),
    ({"sampler": "ddim"}, "sampler: must be one of euler, unipc"),
    ({"guidance": "high"}, "guidance: expected float"),
    ({"tiled": "maybe"}, "tiled: expected bool"),
    ({"seed": 2**40}, "seed: must be at most"),
])
def test_validation_names_parameter_and_rule(flags, message):
    with pytest.raises(ParameterError) as err:
        assemble(flags={"prompt": "x", **flags})
    assert message in str(err.value)


def test_unknown_parameters_are_errors_naming_the_layer():
    with pytest.raises(UserError, match=r"has no parameter typo \(from settings file\)"):
        assemble(settings={"typo": 1}, flags={"prompt": "x"})


def test_set_values_are_typed_by_the_schema():
    params = assemble(flags={"prompt": "x", **parse_set(["steps=12", "tiled=yes", "guidance=3.5"])})
    assert (params["steps"], params["tiled"], params["guidance"]) == (12, True, 3.5)
