"""The shared sizing rules (torch-free): sizes from an image, centre crops, EXIF rotation."""

from __future__ import annotations

import pytest
from PIL import Image
from wgp_diffusers import SizeRule, crop_box, image_size, prepare_image
from wgp_diffusers.sizing import area_size, best_size, crop_note


def test_area_rule_keeps_the_aspect_at_the_target_area():
    assert area_size((600, 900), 832 * 480, 16) == (512, 768)  # portrait stays portrait
    assert area_size((900, 600), 832 * 480, 16) == (768, 512)
    assert area_size((1, 1000), 832 * 480, 16)[0] == 16  # never below one multiple


def test_best_rule_stays_within_the_area_in_multiples_of_32():
    width, height = best_size((1920, 1080), 1280 * 704, 32)
    assert (width, height) == (1248, 704) and width * height <= 1280 * 704


def test_crop_box_is_centred_and_trims_only_the_excess_side():
    assert crop_box((600, 900), (832, 480)) == (0, 277, 600, 623)
    assert crop_box((48, 32), (32, 32)) == (8, 0, 40, 32)
    assert crop_box((32, 32), (64, 64)) == (0, 0, 32, 32)
    assert crop_note("--image-end", (32, 32), (64, 64)) is None


def test_prepare_image_crops_then_resizes():
    image = Image.new("RGB", (48, 32))
    image.paste((255, 0, 0), (8, 0, 40, 32))  # the centre square is red, the sides black
    out = prepare_image(image, 16, 16)
    assert out.size == (16, 16) and set(out.getdata()) == {(255, 0, 0)}


def test_image_size_applies_exif_rotation(tmp_path):
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait: load_image turns it
    Image.new("RGB", (60, 40)).save(path, exif=exif)
    assert image_size(str(path)) == (40, 60)


def test_unknown_fit_is_refused():
    with pytest.raises(ValueError, match="fit must be one of"):
        SizeRule(fit="stretch")
