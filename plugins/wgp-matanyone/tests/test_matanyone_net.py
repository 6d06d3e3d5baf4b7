"""The network against the specification: the checkpoint layout, strict loading, the video
protocol's shapes and determinism, the memory schedule, and per-module invariants (§17)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from matanyone_testing import scene
from safetensors.torch import save_file

from wgp_hookspecs import UserError
from wgp_matanyone.inference import EmptyMaskError, MattingSession, matte_steps, padding, read_memory
from wgp_matanyone.morphology import dilate_binary, ellipse_kernel, erode_binary, preprocess_mask
from wgp_matanyone.network import MatAnyone, attention_mask

REFERENCE = Path("/work/shared/reference/matanyone_state_dict.json")
if not REFERENCE.exists():  # a checkout elsewhere: the copy beside the repository
    REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "matanyone_state_dict.json"


@pytest.fixture(scope="module")
def reference() -> dict[str, list[int]]:
    if not REFERENCE.exists():
        pytest.skip("shared/reference/matanyone_state_dict.json is not available")
    return json.loads(REFERENCE.read_text())["tensors"]


def random_state(reference: dict[str, list[int]]) -> dict[str, torch.Tensor]:
    """A state dict with exactly the reference's names and shapes, deterministic per key."""
    out = {}
    for i, (key, shape) in enumerate(sorted(reference.items())):
        g = torch.Generator().manual_seed(i)
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(7, dtype=torch.int64)
        elif key.endswith("running_var"):
            out[key] = torch.rand(shape, generator=g) + 0.5
        else:
            out[key] = torch.randn(shape, generator=g) * 0.02
    return out


# --------------------------------------------------------------------------- layout and loading


def test_state_dict_is_the_official_layout(net, reference):
    state = net.state_dict()
    assert {k: list(v.shape) for k, v in state.items()} == reference
    assert "pixel_mean" not in state and "pixel_std" not in state
    assert sum(p.numel() for p in net.parameters()) == 35_249_195


def test_strict_load_of_a_reference_built_checkpoint(reference, tmp_path):
    state = random_state(reference)
    save_file(state, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"cfg": {"model": {}}, "single_object": True}))
    for location in (tmp_path, tmp_path / "model.safetensors"):
        model = MatAnyone.from_pretrained(location)
        loaded = model.state_dict()
        assert all(torch.equal(loaded[k], state[k]) for k in state)
    # inv_freq computed in float32 equals what the checkpoint layout would carry
    fresh = MatAnyone().object_transformer.spatial_pe.inv_freq
    assert torch.equal(fresh, 1.0 / (128.0 ** (torch.arange(0, 128, 2, dtype=torch.float32) / 128)))


@pytest.mark.parametrize("change", ["missing", "extra", "shape"])
def test_a_missing_extra_or_misshapen_tensor_is_named(reference, tmp_path, change):
    state = random_state(reference)
    key = "mask_decoder.pred_mat.weight"
    if change == "missing":
        del state[key]
    elif change == "extra":
        key = "mask_decoder.pred_extra.weight"
        state[key] = torch.zeros(1)
    else:
        state[key] = torch.zeros(2, 16, 3, 3)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(UserError, match=key.replace(".", r"\.")) as info:
        MatAnyone.from_pretrained(tmp_path)
    assert {"missing": "missing", "extra": "unexpected", "shape": "shape"}[change] in str(info.value)
    assert "\n" not in str(info.value)


def test_pickled_checkpoints_are_refused(tmp_path):
    (tmp_path / "matanyone.pth").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(UserError, match="safetensors only"):
        MatAnyone.from_pretrained(tmp_path / "matanyone.pth")
    with pytest.raises(UserError, match="only pickled weights"):
        MatAnyone.from_pretrained(tmp_path)


# --------------------------------------------------------------------------- the video protocol


def test_matte_shapes_range_and_determinism(net):
    frames, mask = scene(6, 54, 70)  # neither side a multiple of 16
    alpha, warm = net.matte(frames, mask, warmup=3, return_warmup=True)
    assert alpha.shape == (6, 54, 70) and alpha.dtype == np.float32
    assert warm.shape == (3, 54, 70)
    assert np.isfinite(alpha).all() and alpha.min() >= 0 and alpha.max() <= 1
    assert (alpha == 0).any() and (alpha == 1).any()  # clamp, not sigmoid: exact 0s and 1s exist
    again = net.matte(frames, mask, warmup=3)
    assert np.array_equal(alpha, again)
    moved = net.matte(frames, np.roll(mask, 12, axis=1), warmup=3)
    assert np.abs(moved - alpha).max() > 1e-3


def test_progress_and_cancel_hooks(net):
    frames, mask = scene(4, 40, 48)
    seen = []
    net.matte(frames, mask, warmup=2, on_frame=lambda i, n: seen.append((i, n)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    calls = []

    def check():
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        net.matte(frames, mask, warmup=2, check=check)


def test_warmup_zero_starts_with_the_first_frame_prediction(net):
    frames, mask = scene(3, 32, 48)
    alpha, warm = net.matte(frames, mask, warmup=0, return_warmup=True)
    assert warm.shape == (0, 32, 48)
    steps = list(matte_steps(net, frames, mask, warmup=0))
    assert [w for w, _ in steps] == [False, False, False]
    assert np.array_equal(steps[0][1], alpha[0])


def test_an_empty_mask_is_an_error(net):
    frames, _ = scene(2, 32, 32)
    with pytest.raises(EmptyMaskError):
        net.matte(frames, np.zeros((32, 32), np.uint8))
    with pytest.raises(ValueError, match="mask is 30x32"):
        net.matte(frames, np.full((32, 30), 255, np.uint8))


def test_memory_schedule_is_bounded(net):
    frames, mask = scene(26, 80, 100)  # padded 80 x 112: P = 5 x 7 = 35 >= top_k
    session = MattingSession(net)
    p = 35
    with torch.inference_mode():
        session.mask_step(frames[0], preprocess_mask(mask))
        session.first_frame_step(frames[0])
        assert session.memory_tokens == p and session.permanent == p
        areas = [float(session.summaries[..., -1].sum())]
        lengths = []
        for t in range(1, 26):
            session.normal_step(frames[t])
            lengths.append(session.memory_tokens)
            if t % 5 == 0:
                areas.append(float(session.summaries[..., -1].sum()))
    assert lengths[3] == p and lengths[4] == 2 * p  # the write at t = 5
    assert max(lengths) == 5 * p and lengths[-1] == 5 * p  # FIFO keeps permanent + 4 frames
    assert all(b > a for a, b in zip(areas, areas[1:]))  # the object memory is never trimmed


def test_fp64_moves_alpha_only_at_rounding_level(net):
    """§17: float64 moves alpha by ~1e-5.  The unit-gain random net is chaotic over many recurrent
    steps, so its first prediction is compared; a default-initialised net over a whole clip."""
    frames, mask = scene(4, 48, 64)
    net64 = MatAnyone().double()
    net64.load_state_dict(net.state_dict())
    first32 = next(iter(matte_steps(net, frames, mask, warmup=0)))[1]
    first64 = next(iter(matte_steps(net64, frames, mask, warmup=0)))[1]
    assert np.abs(first64 - first32).max() < 1e-4
    torch.manual_seed(0)
    calm = MatAnyone()
    calm64 = MatAnyone().double()
    calm64.load_state_dict(calm.state_dict())
    a32, w32 = calm.matte(frames, mask, warmup=2, return_warmup=True)
    a64, w64 = calm64.matte(frames, mask, warmup=2, return_warmup=True)
    assert np.abs(a64 - a32).max() < 1e-4 and np.abs(w64 - w32).max() < 1e-4


def test_shapes_of_the_worked_example(net):
    """§15: a 90 x 150 clip is padded to 96 x 160 (3/3 rows, 5/5 columns)."""
    assert padding(90) == (3, 3) and padding(150) == (5, 5) and padding(99) == (6, 7)
    session = MattingSession(net)
    image = session.prepare(np.zeros((90, 150, 3), np.uint8))
    assert image.shape == (1, 3, 96, 160)
    assert torch.allclose(image[0, :, 0, 0], -net.pixel_mean.flatten() / net.pixel_std.flatten())
    with torch.inference_mode():
        enc = net.encode_image(image)
    assert [tuple(f.shape) for f in enc["feats"]] == [(1, 1024, 6, 10), (1, 512, 12, 20), (1, 256, 24, 40),
                                                       (1, 64, 48, 80), (1, 3, 96, 160)]
    assert enc["key"].shape == (1, 64, 6, 10) and enc["shrinkage"].shape == (1, 1, 6, 10)
    assert float(enc["shrinkage"].min()) >= 1 and 0 < float(enc["selection"].min()) <= float(enc["selection"].max()) < 1


# --------------------------------------------------------------------------- modules


def test_positional_encoding_and_attention_mask(net):
    pe = net.object_transformer.spatial_pe(6, 10)
    assert pe.shape == (6, 10, 256)
    assert torch.all(pe[0, 0, 0::2] == 0) and torch.all(pe[0, 0, 1::2] == 1)
    assert torch.equal(pe[0, :, :128], pe[5, :, :128])  # x channels depend on the column only
    logits = torch.full((1, 1, 2, 3), -5.0)
    logits[0, 0, 0, 0] = 5.0  # one foreground pixel
    mask = attention_mask(logits)
    assert mask.shape == (8, 16, 6)
    assert mask[0, :8].tolist() == [[False, True, True, True, True, True]] * 8
    assert mask[0, 8:].tolist() == [[True, False, False, False, False, False]] * 8
    none = attention_mask(torch.full((1, 1, 2, 3), -5.0))
    assert not none.any()  # no foreground: the blocked foreground rows are unblocked


def test_gated_update_and_channel_attention(net):
    updater = net.mask_encoder.sensory_update
    assert net.mask_encoder.fuser.block1.conv.kernel_size == (5,)
    with torch.no_grad():
        saved = updater.transform.weight.clone(), updater.transform.bias.clone()
        updater.transform.weight.zero_()
        updater.transform.bias.fill_(-1e4)  # forget gate 0, update gate 0
        out = updater(torch.randn(1, 256, 2, 2), torch.randn(1, 256, 2, 2))
        updater.transform.weight.copy_(saved[0])
        updater.transform.bias.copy_(saved[1])
    assert torch.all(out == 0)


def test_read_memory_clamps_top_k_and_never_returns_nan():
    g = torch.Generator().manual_seed(0)
    q, e = torch.randn(64, 20, generator=g), torch.rand(64, 20, generator=g)
    keys, values = torch.randn(64, 20, generator=g), torch.randn(256, 20, generator=g)
    out = read_memory(q, e, keys, torch.ones(20), values, 30)  # N = 20 < 30
    assert out.shape == (256, 20)
    far = read_memory(q, e, keys * 100, torch.full((20,), 50.0), values, 30)  # every exp underflows
    assert torch.isfinite(far).all()


# --------------------------------------------------------------------------- mask preprocessing


def test_ellipse_kernel_matches_the_opencv_table():
    table = """
    .....#....
    ..#######.
    .#########
    ##########
    ##########
    ##########
    ##########
    ##########
    .#########
    ..#######.
    """
    expected = np.array([[c == "#" for c in row.strip()] for row in table.strip().splitlines()])
    assert np.array_equal(ellipse_kernel(10), expected)


def test_morphology_anchor_and_border_rules():
    dot = np.zeros((20, 20), np.float32)
    dot[10, 10] = 1
    grown = dilate_binary(dot, 10)
    # out(y,x) = max over on cells (i,j) of src(y+i-5, x+j-5): the kernel appears point-reflected
    assert np.array_equal(grown[6:16, 6:16], ellipse_kernel(10)[::-1, ::-1].astype(np.float32))
    assert grown.sum() == ellipse_kernel(10).sum()
    assert np.all(erode_binary(np.ones((7, 9), np.float32), 10) == 1)  # outside samples are ignored
    soft = np.array([[0, 128], [255, 64]], np.uint8)
    assert np.array_equal(preprocess_mask(soft, dilate=0, erode=0), soft.astype(np.float32))


def test_morphology_equals_opencv():
    import cv2  # a test dependency (requirements-dev.txt): a missing oracle must fail, not skip
    rng = np.random.default_rng(1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (10, 10))
    assert np.array_equal(kernel.astype(bool), ellipse_kernel(10))
    for size in (3, 6, 10):
        element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        for _ in range(3):
            src = (rng.random((40, 37)) < 0.3).astype(np.float32)
            assert np.array_equal(cv2.dilate(src, element), dilate_binary(src, size))
            assert np.array_equal(cv2.erode(src, element), erode_binary(src, size))
