"""Random-weight copies of the FLUX.2 models, for tests and ``wgp models tiny``.

The real component classes and folder layout: ``Flux2Transformer2DModel``,
``AutoencoderKLFlux2`` (8x downsampling, 2x2 patchified latents: sizes multiples of 16),
``FlowMatchEulerDiscreteScheduler`` configured like the published one, and the text encoder
of each line: ``Mistral3ForConditionalGeneration`` for [dev], ``Qwen3ForCausalLM`` for
[klein] (``is_distilled`` in model_index.json as published).  Each text encoder has enough
layers for the pipelines' default output layers ((10, 20, 30) for [dev], (9, 18, 27) for
[klein]), so every call uses the defaults a real checkpoint does; at 16 hidden units that
is still under 0.1 M weights.  The transformer's context width is 3x the text width, as the
pipelines stack three hidden layers.

Tokenizers are built in memory over bytes, with small chat templates of the real layout
(Mistral's ``[SYSTEM_PROMPT]...[INST]...[/INST]``; for [klein] wgp-diffusers' tiny Qwen
tokenizer, whose ``<|im_start|>`` turns end in an empty think block when thinking is off);
the real [dev] tokenizer is a ``PixtralProcessor``, which needs torchvision, so the tiny
[dev] keeps the tokenizer alone (all Flux2Pipeline calls of it are ``apply_chat_template``).  Building is deterministic.
"""

from __future__ import annotations

from typing import Any

from diffusers import AutoencoderKLFlux2, Flux2Transformer2DModel
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    Mistral3Config,
    Mistral3ForConditionalGeneration,
    PreTrainedTokenizerFast,
    Qwen2Tokenizer,
    Qwen3Config,
    Qwen3ForCausalLM,
)
from wgp_hookspecs import ModelSpec

from wgp_diffusers.tiny import seeded_weights, tiny_flux_vae, tiny_qwen_tokenizer

from .pipeline_flux2 import Flux2Model
from .tiny import tiny_scheduler

TEXT_WIDTH = 16
LATENT_CHANNELS = 4
#: Hidden layers of the tiny text encoders: one more than the highest default output layer.
MISTRAL_LAYERS = 31
QWEN_LAYERS = 28

MISTRAL_SPECIALS = ("<unk>", "[IMG]", "<s>", "</s>", "<pad>", "[INST]", "[/INST]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]")
MISTRAL_TEMPLATE = (
    "<s>{% for m in messages %}"
    "{% if m['content'] is string %}{% set text = m['content'] %}"
    "{% else %}{% set text = m['content'] | selectattr('type', 'equalto', 'text') | map(attribute='text') | join('') %}{% endif %}"
    "{% if m['role'] == 'system' %}[SYSTEM_PROMPT]{{ text }}[/SYSTEM_PROMPT]"
    "{% elif m['role'] == 'user' %}[INST]{{ text }}[/INST]"
    "{% else %}{{ text }}</s>{% endif %}{% endfor %}"
)
#: Qwen3's think tokens, besides wgp-diffusers' Qwen specials: [klein] prompts carry an empty think block.
QWEN_THINK_TOKENS = ("<think>", "</think>")


def _byte_vocab(specials: tuple[str, ...]) -> dict[str, int]:
    """Special tokens first, then the 256 byte-level symbols: every text tokenizes, no merges needed."""
    return {token: index for index, token in enumerate((*specials, *sorted(pre_tokenizers.ByteLevel.alphabet())))}


def tiny_mistral_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer with Mistral's special tokens (bos 2, eos 3, pad 4) and a chat template."""
    backend = Tokenizer(models.BPE(vocab=_byte_vocab(MISTRAL_SPECIALS), merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        additional_special_tokens=list(MISTRAL_SPECIALS[5:]), chat_template=MISTRAL_TEMPLATE,
    )


def tiny_mistral_encoder(vocab_size: int) -> Mistral3ForConditionalGeneration:
    """Mistral 3 (language model and a one-layer Pixtral vision tower, as the real class has)."""
    config = Mistral3Config(
        text_config=dict(
            model_type="mistral", vocab_size=vocab_size, hidden_size=TEXT_WIDTH, intermediate_size=32,
            num_hidden_layers=MISTRAL_LAYERS, num_attention_heads=2, num_key_value_heads=1, head_dim=8,
            max_position_embeddings=1024, bos_token_id=2, eos_token_id=3, pad_token_id=4, sliding_window=None,
        ),
        vision_config=dict(
            model_type="pixtral", hidden_size=8, intermediate_size=16, num_hidden_layers=1,
            num_attention_heads=1, head_dim=8, image_size=16, patch_size=8, num_channels=3,
        ),
        image_token_index=1, spatial_merge_size=1, vision_feature_layer=-1, multimodal_projector_bias=False,
    )
    return Mistral3ForConditionalGeneration(config)


def tiny_qwen_encoder(tokenizer: Qwen2Tokenizer) -> Qwen3ForCausalLM:
    return Qwen3ForCausalLM(Qwen3Config(
        vocab_size=len(tokenizer), hidden_size=TEXT_WIDTH, intermediate_size=32, num_hidden_layers=QWEN_LAYERS,
        num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=1024,
        tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
    ))


def build_tiny_flux2_pipeline(spec: ModelSpec) -> Any:
    """The tiny pipeline object for a FLUX.2 ``spec`` (not saved); deterministic for a given spec."""
    klein = spec.options["pipeline"] == "klein"
    with seeded_weights():
        tokenizer = tiny_qwen_tokenizer(QWEN_THINK_TOKENS) if klein else tiny_mistral_tokenizer()
        components: dict[str, Any] = dict(
            tokenizer=tokenizer,
            text_encoder=tiny_qwen_encoder(tokenizer) if klein else tiny_mistral_encoder(len(tokenizer)),
            vae=tiny_flux_vae(AutoencoderKLFlux2, LATENT_CHANNELS),
            # Latents are patchified 2x2: 4 latent channels become 16 inputs.
            transformer=Flux2Transformer2DModel(
                patch_size=1, in_channels=LATENT_CHANNELS * 4, num_layers=1, num_single_layers=1,
                attention_head_dim=16, num_attention_heads=2, joint_attention_dim=3 * TEXT_WIDTH,
                timestep_guidance_channels=32, axes_dims_rope=(4, 4, 4, 4),
                guidance_embeds=bool(spec.options.get("guidance_embeds")),
            ),
            scheduler=tiny_scheduler("dynamic"),
        )
        if klein:
            components["is_distilled"] = bool(spec.options.get("distilled"))
        return Flux2Model.pipeline_class(spec)(**components)
