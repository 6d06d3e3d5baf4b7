"""Building blocks for random-weight test models (``wgp models tiny``), shared by diffusers families.

A family's tiny builder picks its own transformer and VAE sizes; the parts
every family needs the same way are here: deterministic weights
(:func:`seeded_weights`), text tokenizers built in memory without a hub
(:func:`tiny_t5_tokenizer`, :func:`tiny_clip_tokenizer`, :func:`tiny_qwen_tokenizer`), small text encoders
that fit them (:func:`tiny_t5_encoder`, :func:`tiny_clip_text_encoder`), the image VAE of the
FLUX line (:func:`tiny_flux_vae`) and saving in diffusers layout with safetensors only
(:func:`save_tiny_pipeline`).

This module imports torch and transformers: import it only from a builder.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTokenizer,
    Qwen2Tokenizer,
    T5Config,
    T5EncoderModel,
    T5Tokenizer,
    UMT5Config,
    UMT5EncoderModel,
)

from .diffusion import quiet_progress_bars

#: Seed of every tiny model's weights.
TINY_SEED = 0

#: Characters the tiny tokenizers know (others become ``<unk>``).
CHARACTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()"


@contextlib.contextmanager
def seeded_weights(seed: int = TINY_SEED) -> Iterator[None]:
    """Modules created inside get the same random weights every time; the caller's RNG state is restored after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def tiny_t5_tokenizer() -> T5Tokenizer:
    """A T5 Unigram tokenizer over single characters (ids 0 pad, 1 eos, 2 unk), built in memory."""
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    vocab += [("\u2581" + c, -2.0 - i / 100) for i, c in enumerate("abcdefghijklmnopqrstuvwxyz")]
    vocab += [(c, -3.0 - i / 100) for i, c in enumerate(CHARACTERS)]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def tiny_t5_encoder(vocab_size: int, width: int = 32, umt5: bool = False) -> T5EncoderModel | UMT5EncoderModel:
    """A two-layer T5 encoder (UMT5 for Wan) with ``width`` hidden units, matching :func:`tiny_t5_tokenizer`."""
    config_class, model_class = (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    return model_class(
        config_class(
            vocab_size=vocab_size,
            d_model=width,
            d_kv=8,
            d_ff=32,
            num_layers=2,
            num_heads=4,
            relative_attention_num_buckets=8,
            relative_attention_max_distance=16,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )


def tiny_clip_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer without merges: ``<|startoftext|>`` 0, ``<|endoftext|>`` 1, then single characters.

    Every character (alone and as a word end, ``c</w>``) is a token, so any
    text in :data:`CHARACTERS` tokenizes without a merges file; 77 positions,
    as in every CLIP text encoder.
    """
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in CHARACTERS.lower() + CHARACTERS.upper():
        for piece in (c, c + "</w>"):
            vocab.setdefault(piece, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def tiny_clip_text_encoder(vocab_size: int, width: int = 32) -> CLIPTextModel:
    """A two-layer CLIP text encoder with ``width`` hidden units, matching :func:`tiny_clip_tokenizer`."""
    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=width,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            projection_dim=width,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )


#: Qwen's special tokens every chat prompt uses: ``<|endoftext|>`` (unknown, end and padding),
#: then a turn's start and end.
QWEN_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

#: A ChatML template for tiny Qwen tokenizers, written for tests (not a published one): each turn
#: ``<|im_start|>ROLE\nTEXT<|im_end|>\n``, then the assistant's header when asked for.  That is what
#: Qwen2.5-VL's and Qwen3's templates give for user turns (Qwen3's with thinking on, as Z-Image asks);
#: with ``enable_thinking=False`` (FLUX.2 [klein]) the header is followed by Qwen3's empty think block.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)


def tiny_qwen_tokenizer(
    extra_special_tokens: Sequence[str] = (), chat_template: str | None = QWEN_CHAT_TEMPLATE, padding_side: str = "right",
) -> Qwen2Tokenizer:
    """A byte-level Qwen2 tokenizer without merges (every byte one token, GPT-2's byte symbols as
    ids 0-255), then :data:`QWEN_SPECIAL_TOKENS` and ``extra_special_tokens`` (e.g. Qwen2.5-VL's
    vision tokens, Qwen3's ``<think>`` and ``</think>``), with a chat template; built in memory, so
    any prompt tokenizes without a vocabulary file.  The text encoders of HunyuanVideo 1.5,
    Z-Image and FLUX.2 [klein] take it."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {symbol: index for index, symbol in enumerate(bytes_to_unicode().values())}
    specials = [*QWEN_SPECIAL_TOKENS, *extra_special_tokens]
    for token in specials:
        vocab.setdefault(token, len(vocab))
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=[], padding_side=padding_side, chat_template=chat_template)
    tokenizer.add_special_tokens({"additional_special_tokens": specials[1:]})
    return tokenizer


#: The FLUX.1 VAE's latent shift and scale (Z-Image decodes with the same VAE).
FLUX_VAE_SHIFT, FLUX_VAE_SCALE = 0.1159, 0.3611


def tiny_flux_vae(vae_class: type = AutoencoderKL, latent_channels: int = 4, **config: Any) -> Any:
    """Four 4-channel blocks of one layer: the real 8x downsampling, without the quant convs the
    FLUX VAEs drop.  ``AutoencoderKL`` gets FLUX.1's shift and scale (FLUX.1, Z-Image);
    ``AutoencoderKLFlux2`` (FLUX.2) normalizes with batch-norm statistics instead."""
    if vae_class is AutoencoderKL:
        config = {"shift_factor": FLUX_VAE_SHIFT, "scaling_factor": FLUX_VAE_SCALE, **config}
    return vae_class(
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(4, 4, 4, 4),
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=1,
        sample_size=32,
        use_quant_conv=False,
        use_post_quant_conv=False,
        **config,
    )


def save_tiny_pipeline(pipe: Any, folder: str | os.PathLike[str]) -> None:
    """Write ``pipe`` to ``folder`` in diffusers layout with safetensors; it loads back with ``from_pretrained``."""
    os.makedirs(folder, exist_ok=True)
    with quiet_progress_bars():
        pipe.save_pretrained(str(folder), safe_serialization=True)


def save_gguf(state_dict: Mapping[str, Any], path: str | os.PathLike[str], quant: str = "Q8_0", arch: str = "wgp") -> Path:
    """Write a transformer's ``state_dict`` as a GGUF file for ``--transformer-file`` tests and
    benchmarks: 2-D tensors whose rows are whole blocks of the ``gguf`` package's ``quant`` type
    quantized to it, every other tensor float32 (the layout community GGUF conversions use).
    Needs the ``gguf`` package (``wgp-diffusers[gguf]``)."""
    import gguf

    kind = getattr(gguf.GGMLQuantizationType, quant)
    block = gguf.GGML_QUANT_SIZES[kind][0]
    writer = gguf.GGUFWriter(str(path), arch)
    for name, tensor in state_dict.items():
        array = tensor.detach().float().cpu().numpy()
        if array.ndim == 2 and array.shape[-1] % block == 0:
            writer.add_tensor(name, gguf.quants.quantize(array, kind), raw_dtype=kind)
        else:
            writer.add_tensor(name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(path)


__all__ = [
    "CHARACTERS",
    "FLUX_VAE_SCALE",
    "FLUX_VAE_SHIFT",
    "QWEN_CHAT_TEMPLATE",
    "QWEN_SPECIAL_TOKENS",
    "TINY_SEED",
    "save_gguf",
    "save_tiny_pipeline",
    "seeded_weights",
    "tiny_clip_text_encoder",
    "tiny_clip_tokenizer",
    "tiny_flux_vae",
    "tiny_qwen_tokenizer",
    "tiny_t5_encoder",
    "tiny_t5_tokenizer",
]
