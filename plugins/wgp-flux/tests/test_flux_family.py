"""The Flux family on tiny random-weight models: registration, schema, generation equal to diffusers, Kontext."""

from __future__ import annotations

import numpy as np
import pytest
from diffusers import FluxKontextPipeline, FluxPipeline
from diffusers.utils import load_image
from flux_testing import SMALL, load, request_params
from wgp_diffusers.testing import as_arrays, generate, generator
from wgp_flux.plugin import FLUX_FAMILY
from wgp_flux.specs import FLUX1_MODEL_IDS, get_spec
from wgp_hookspecs import ParameterError, UserError

from wgp_host.testing import Recorder, heavy_imports, registered_families

KONTEXT = "flux.1-kontext-dev"


def test_registration_imports_no_torch():
    assert heavy_imports("wgp_flux.plugin") == []


def test_entry_point_registers_every_model():
    (family,) = registered_families("flux")
    assert family is FLUX_FAMILY
    assert {m.id: m.weights for m in family.models} == {
        "flux.1-dev": "black-forest-labs/FLUX.1-dev",
        "flux.1-schnell": "black-forest-labs/FLUX.1-schnell",
        "flux.1-kontext-dev": "black-forest-labs/FLUX.1-Kontext-dev",
        "flux.2-dev": "black-forest-labs/FLUX.2-dev",
        "flux.2-klein-4b": "black-forest-labs/FLUX.2-klein-4B",
        "flux.2-klein-9b": "black-forest-labs/FLUX.2-klein-9B",
        "flux.2-klein-base-4b": "black-forest-labs/FLUX.2-klein-base-4B",
        "flux.2-klein-base-9b": "black-forest-labs/FLUX.2-klein-base-9B",
    }


def test_published_defaults():
    def key(model_id):
        d = get_spec(model_id).defaults()
        return d["width"], d["height"], d["steps"], d["guidance"], d["max_sequence_length"], d["batch_size"]

    assert key("flux.1-dev") == (1024, 1024, 50, 3.5, 512, 1)
    assert key("flux.1-schnell") == (1024, 1024, 4, 0.0, 256, 1)
    assert key(KONTEXT) == (1024, 1024, 28, 2.5, 512, 1)
    assert get_spec(KONTEXT).param("image_start").required
    assert get_spec("flux.1-dev").param("image_start") is None
    assert get_spec("flux.1-schnell").capabilities == {"text-to-image"}
    assert get_spec(KONTEXT).capabilities == {"image-editing"}


def test_schema_rules():
    spec = get_spec("flux.1-schnell")
    with pytest.raises(ParameterError, match="multiple of 16"):
        spec.param("width").validate(1000)
    with pytest.raises(ParameterError, match="at most 256"):
        spec.param("max_sequence_length").validate(512)
    with pytest.raises(ParameterError, match="is required"):
        get_spec(KONTEXT).param("image_start").validate(None)


@pytest.mark.parametrize("model_id", FLUX1_MODEL_IDS)
def test_tiny_model_generates_a_batch(model_id, wgp_tiny_model, wgp_test_images):
    recorder = Recorder()
    model = load(model_id, wgp_tiny_model(model_id))
    reference = wgp_test_images["a"] if model_id == KONTEXT else None
    result = generate(model, request_params(model_id, reference, batch_size=2), recorder)
    assert len(result.images) == 2 and result.video is None
    assert all(image.shape == (32, 48, 3) and image.dtype == np.uint8 for image in result.images)
    assert not np.array_equal(result.images[0], result.images[1])
    assert result.metadata["seed"] == SMALL["seed"]
    assert recorder.steps() == [(1, 2), (2, 2)]


def test_dev_equals_direct_diffusers_call(wgp_tiny_model):
    folder = wgp_tiny_model("flux.1-dev")
    ours = generate(load("flux.1-dev", folder), request_params("flux.1-dev", guidance=5.0, max_sequence_length=64)).images
    direct = FluxPipeline.from_pretrained(folder)(
        prompt=SMALL["prompt"], height=32, width=48, num_inference_steps=2, guidance_scale=5.0,
        max_sequence_length=64, generator=generator(SMALL["seed"]), output_type="pil",
    ).images
    assert np.array_equal(ours[0], np.asarray(direct[0]))


def test_schnell_equals_direct_diffusers_call(wgp_tiny_model):
    folder = wgp_tiny_model("flux.1-schnell")
    ours = generate(load("flux.1-schnell", folder), request_params("flux.1-schnell", batch_size=2)).images
    direct = FluxPipeline.from_pretrained(folder)(
        prompt=SMALL["prompt"], height=32, width=48, num_inference_steps=2, guidance_scale=0.0,
        num_images_per_prompt=2, max_sequence_length=256, generator=generator(SMALL["seed"]), output_type="pil",
    ).images
    assert all(np.array_equal(a, b) for a, b in zip(ours, as_arrays(direct), strict=True))


@pytest.mark.parametrize("auto_resize", [False, True])
def test_kontext_equals_direct_diffusers_call(auto_resize, wgp_tiny_model, wgp_test_images):
    folder = wgp_tiny_model(KONTEXT)
    reference = wgp_test_images["wide"]
    params = request_params(KONTEXT, reference, auto_resize=auto_resize)
    ours = generate(load(KONTEXT, folder), params).images
    direct = FluxKontextPipeline.from_pretrained(folder)(
        image=load_image(reference), prompt=SMALL["prompt"], height=32, width=48, max_area=48 * 32,
        _auto_resize=auto_resize, num_inference_steps=2, guidance_scale=2.5, max_sequence_length=512,
        generator=generator(SMALL["seed"]), output_type="pil",
    ).images
    assert ours[0].shape == (32, 48, 3)
    assert np.array_equal(ours[0], np.asarray(direct[0]))


def test_kontext_output_follows_its_reference(wgp_tiny_model, wgp_test_images):
    from wgp_host.assembly import assemble_request

    flags = {"prompt": "x", "image_start": wgp_test_images["wide"], "steps": 2, "seed": 7}
    # No size: the preferred Kontext resolution nearest 3:2 (diffusers' PREFERRED_KONTEXT_RESOLUTIONS), not 1024x1024.
    request, warnings = assemble_request(FLUX_FAMILY, get_spec(KONTEXT), flags=flags)
    assert (request.params["width"], request.params["height"]) == (1248, 832) and warnings == []
    # A size the user sets is kept; the reference is encoded at its own resolution, so nothing is cropped.
    request, warnings = assemble_request(FLUX_FAMILY, get_spec(KONTEXT), flags={**flags, "width": 512, "height": 512})
    assert (request.params["width"], request.params["height"]) == (512, 512) and warnings == []
    # Without auto_resize the reference keeps its own size, and so does the output.
    request, _ = assemble_request(FLUX_FAMILY, get_spec(KONTEXT), flags={**flags, "auto_resize": False})
    assert (request.params["width"], request.params["height"]) == (48, 32)
    image = generate(load(KONTEXT, wgp_tiny_model(KONTEXT)), dict(request.params)).images[0]
    assert image.shape == (32, 48, 3)


def test_kontext_output_depends_on_the_reference(wgp_tiny_model, wgp_test_images):
    model = load(KONTEXT, wgp_tiny_model(KONTEXT))
    one = generate(model, request_params(KONTEXT, wgp_test_images["a"])).images[0]
    two = generate(model, request_params(KONTEXT, wgp_test_images["c"])).images[0]
    again = generate(model, request_params(KONTEXT, wgp_test_images["a"])).images[0]
    assert not np.array_equal(one, two)
    assert np.array_equal(one, again)


def test_kontext_without_reference_refused_at_the_door(wgp_cli, wgp_tiny_model):
    # The schema owns the rule (image_start is required): refused before any weight loads.
    result = wgp_cli("run", "-m", KONTEXT, "--model-path", wgp_tiny_model(KONTEXT), "-p", "x")
    assert result.exit_code == 2
    assert "--image-start: is required (the reference image to edit" in result.output


def test_schnell_weights_refused_for_dev(wgp_tiny_model):
    with pytest.raises(UserError, match="do not match flux.1-dev.*guidance embedding"):
        load("flux.1-dev", wgp_tiny_model("flux.1-schnell"))
    with pytest.raises(UserError, match="do not match flux.1-schnell"):
        load("flux.1-schnell", wgp_tiny_model("flux.1-dev"))


def test_check_refuses_unreadable_reference(tmp_path, wgp_test_images):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(UserError, match="not a readable image"):
        FLUX_FAMILY.check(get_spec(KONTEXT), {"image_start": str(bad)})
    assert FLUX_FAMILY.check(get_spec(KONTEXT), {"image_start": wgp_test_images["wide"], "width": 1024, "height": 1024}) == []


def test_vae_tiling_stays_off_at_default_size():
    from wgp_flux.pipeline import FluxModel

    from wgp_diffusers.diffusion import wants_vae_tiling

    assert not wants_vae_tiling(None, 1024, 1024, FluxModel.auto_tiling_pixels)
    assert wants_vae_tiling(None, 4096, 4096, FluxModel.auto_tiling_pixels)
