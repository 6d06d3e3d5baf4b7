"""PromptEnhancerBridge: one cached causal LM that rewrites prompts.

The LM is loaded lazily, the first time a job needs it (the runner primes
adapters before it loads the generation model), and kept for later jobs.
``snapshot_state()`` shows what is loaded; ``reset()`` drops it.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Callable

from wgp_hookspecs import UserError

DEFAULT_TEMPLATE = "Rewrite this video prompt with vivid detail about subject, motion, light and camera: {prompt}\nDetailed prompt:"


class PromptEnhancerBridge:
    def __init__(self) -> None:
        self.location: str | None = None
        self.model: Any = None
        self.tokenizer: Any = None
        self.loads = 0
        self.identity: dict[str, Any] = {}
        #: The optional image captioner: (location, processor, model).
        self.captioner: tuple[str, Any, Any] | None = None

    def snapshot_state(self) -> dict[str, Any]:
        return {"loaded": self.model is not None, "location": self.location, "loads": self.loads,
                "identity": dict(self.identity), "captioner": self.captioner[0] if self.captioner else None}

    def reset(self) -> None:
        self.model = self.tokenizer = None
        self.location = None
        self.identity = {}
        self.captioner = None
        import gc

        gc.collect()

    def caption(self, image_path: str, location: str, emit: Callable[..., Any] | None = None) -> str:
        """Describe the start image with an image-to-text model (BLIP-style), loaded once."""
        if self.captioner is None or self.captioner[0] != location:
            from transformers import AutoProcessor, BlipForConditionalGeneration
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            if emit:
                emit("prompt_enhancer.loading", model=location, role="captioner")
            folder = str(Path(location).expanduser()) if Path(location).expanduser().is_dir() else location
            try:
                processor = AutoProcessor.from_pretrained(folder)
                model = BlipForConditionalGeneration.from_pretrained(folder, use_safetensors=True).eval()
            except (OSError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise UserError(f"cannot load the captioner from {location}: {first}") from None
            self.captioner = (location, processor, model)
        import torch
        from PIL import Image

        _, processor, model = self.captioner
        with Image.open(image_path) as img:
            inputs = processor(images=img.convert("RGB"), return_tensors="pt")
        with torch.no_grad():
            out = model.generate(**inputs, max_new_tokens=24, do_sample=False)
        return " ".join(processor.decode(out[0], skip_special_tokens=True).split())

    def ensure_loaded(self, location: str, emit: Callable[..., Any] | None = None) -> bool:
        """Load the LM at ``location`` unless it is the one already loaded; True when it loaded now."""
        if self.model is not None and self.location == location:
            return False
        folder = str(Path(location).expanduser()) if Path(location).expanduser().is_dir() else location
        if emit:
            emit("prompt_enhancer.loading", model=location)
        t0 = time.perf_counter()
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # wgp has its own progress channel

        try:
            tokenizer = AutoTokenizer.from_pretrained(folder)
            model = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"cannot load the prompt enhancer from {location}: {first}") from None
        model.eval()
        self.model, self.tokenizer, self.location = model, tokenizer, location
        self.loads += 1
        self.identity = {"model": location, "class": type(model).__name__, "weights_sha256": _weights_digest(folder)}
        if emit:
            emit("prompt_enhancer.loaded", model=location, seconds=round(time.perf_counter() - t0, 3))
        return True

    def enhance(self, prompt: str, max_new_tokens: int = 64, template: str = DEFAULT_TEMPLATE, caption: str = "") -> str:
        """Greedy decoding: the same prompt (and caption) and model always give the same text."""
        import torch

        text = template.format(prompt=prompt)
        if caption:
            text = f"Start image: {caption}.\n{text}"
        inputs = self.tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id or 0)
        new = self.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        cleaned = " ".join(new.split())
        return f"{prompt}. {cleaned}" if cleaned else prompt


def _weights_digest(folder: str) -> str | None:
    """sha256 over the safetensors files of a local model folder (the enhancer's identity)."""
    path = Path(folder)
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else []
    if not files:
        return None
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        with open(file, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def build_tiny_lm(folder: str | Path) -> Path:
    """A random-weight Llama causal LM with a locally made word-level tokenizer (no hub)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ("<pad> <eos> <unk> a an the fox red blue snow light camera slow motion wide shot close up golden "
             "hour forest city night rain runs walks flies over under through cinematic detailed soft sharp "
             "focus river mountain sky sun moon dog cat bird , . : rewrite this video prompt with vivid detail "
             "about subject and detailed").split()
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         pad_token_id=0, eos_token_id=1, bos_token_id=None)
    model = LlamaForCausalLM(config)
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    (target / "wgp_tiny.json").write_text(json.dumps({"kind": "tiny random causal LM"}) + "\n")
    return target


def build_tiny_captioner(folder: str | Path) -> Path:
    """A random-weight BLIP captioner with a local word-level tokenizer (no hub, no torchvision)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessorPil, BlipProcessor, PreTrainedTokenizerFast

    words = "[PAD] [UNK] [CLS] [SEP] [MASK] a photo of the fox red snow dog forest light sky".split()
    vocab = {w: i for i, w in enumerate(words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                        sep_token="[SEP]", bos_token="[CLS]", eos_token="[SEP]")
    torch.manual_seed(0)
    config = BlipConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "encoder_hidden_size": 32, "pad_token_id": 0, "bos_token_id": 2,
                     "sep_token_id": 3, "eos_token_id": 3},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
    )
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    BlipForConditionalGeneration(config).save_pretrained(target, safe_serialization=True)
    BlipProcessor(image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}), tokenizer=tokenizer).save_pretrained(target)
    return target
