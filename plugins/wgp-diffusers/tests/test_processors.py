"""wgp_diffusers.processors: Qwen-VL processors built and loaded back without torchvision (as
saved with it), giving what the processor they were saved from gives."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from wgp_diffusers.processors import build_processor, has_torchvision, load_processor
from wgp_diffusers.tiny import tiny_qwen_tokenizer

VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


@pytest.mark.parametrize("name", ["Qwen2VLProcessor", "Qwen2_5_VLProcessor", "Qwen3VLProcessor"])
def test_a_saved_processor_loads_back_and_encodes_the_same(name, tmp_path):
    from transformers import Qwen2VLImageProcessorPil

    image_processor = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112)
    processor = build_processor(name, image_processor, tiny_qwen_tokenizer(VISION_TOKENS))
    assert type(processor).__name__ == name
    processor.save_pretrained(tmp_path / "processor")
    loaded = load_processor(name, str(tmp_path), "processor")
    if has_torchvision():  # then from_pretrained loads it as saved
        assert loaded is None
        return
    assert type(loaded).__name__ == name
    text, image = ["<|vision_start|><|image_pad|><|vision_end|>a fox"], [Image.new("RGB", (40, 30), (200, 30, 30))]
    ours, theirs = (p(text=text, images=image, return_tensors="np", padding=True) for p in (loaded, processor))
    assert set(ours) == set(theirs) and all(np.array_equal(ours[k], theirs[k]) for k in ours)


def test_a_processor_folder_without_tokenizer_files_takes_the_pipelines(tmp_path):
    from transformers import Qwen2VLImageProcessorPil

    tokenizer = tiny_qwen_tokenizer(VISION_TOKENS)
    image_processor = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112)
    image_processor.save_pretrained(tmp_path / "processor")
    tokenizer.save_pretrained(tmp_path / "tokenizer")
    loaded = load_processor("Qwen2VLProcessor", str(tmp_path), "processor", tokenizer_location=(str(tmp_path), "tokenizer"))
    if has_torchvision():  # then from_pretrained loads it as saved
        assert loaded is None
        return
    assert loaded.tokenizer.convert_tokens_to_ids("<|image_pad|>") == tokenizer.convert_tokens_to_ids("<|image_pad|>")
