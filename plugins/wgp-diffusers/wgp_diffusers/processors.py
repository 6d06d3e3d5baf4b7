"""Qwen-VL processors (Qwen2-VL, Qwen2.5-VL, Qwen3-VL) without torchvision.

Several families' prompt encoders are Qwen-VL models whose pipelines keep a transformers
``Qwen2VLProcessor`` (Qwen-Image-Edit), ``Qwen2_5_VLProcessor`` or ``Qwen3VLProcessor``
(MiniMax-H3) beside them.  transformers 5 builds none of those without torchvision:

* a processor checks each part against a base class it looks up by name on the
  ``transformers`` module, and the video-processor ones (``VideoProcessorMixin``,
  ``BaseVideoProcessor``) are exported only with torchvision, so even a processor whose video
  processor is the base class cannot be built (:func:`allow_processor_without_torchvision`);
* loading a saved one asks ``AutoVideoProcessor`` for its video processor, and every Qwen video
  processor class needs torchvision.

Image and text prompts need no video processor, so without torchvision the processor is built
by hand from what was saved (:func:`load_processor`): the tokenizer, the image processor's PIL
backend (``Qwen2VLImageProcessorPil``, which reads the same ``preprocessor_config.json``) and
transformers' base video processor at the image processor's patch geometry.  With torchvision
every function here does nothing and the processor loads as saved.  A video prompt would still
need torchvision.

Imports transformers only inside the functions: cheap to import.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any


def has_torchvision() -> bool:
    return importlib.util.find_spec("torchvision") is not None


def allow_processor_without_torchvision() -> None:
    """Give transformers' top-level module the video-processor base class names it checks a
    processor's parts against, so a Qwen-VL processor can be built without torchvision.

    ``transformers.processing_utils`` looks the names up on its own reference to the
    ``transformers`` module, which (re-imported while it loads) need not be the object an earlier
    ``import transformers`` returned: both get them.  With torchvision this does nothing.
    """
    if has_torchvision():
        return
    import transformers
    import transformers.processing_utils as processing
    import transformers.video_processing_utils as video

    for module in {id(m): m for m in (transformers, processing.transformers_module, sys.modules["transformers"])}.values():
        if "VideoProcessorMixin" not in vars(module):
            module.VideoProcessorMixin = video.VideoProcessorMixin
            module.BaseVideoProcessor = video.BaseVideoProcessor


def processor_class(name: str) -> type:
    """transformers' processor class ``name`` (``"Qwen2VLProcessor"``, ``"Qwen2_5_VLProcessor"``,
    ``"Qwen3VLProcessor"``), importable without torchvision."""
    import transformers

    return getattr(transformers, name)


def build_processor(cls: type | str, image_processor: Any, tokenizer: Any, video_processor: Any = None) -> Any:
    """``cls(image_processor, tokenizer, video_processor)``; without a ``video_processor``,
    transformers' base one at ``image_processor``'s patch geometry (torchvision-free; a video
    input would need torchvision).  What tiny builders and :func:`load_processor` use."""
    allow_processor_without_torchvision()
    from transformers.video_processing_utils import BaseVideoProcessor

    if isinstance(cls, str):
        cls = processor_class(cls)
    video_processor = video_processor or BaseVideoProcessor(patch_size=image_processor.patch_size, merge_size=image_processor.merge_size,
                                         temporal_patch_size=image_processor.temporal_patch_size)
    # The chat template the processor folder saved (AutoTokenizer reads it there too).
    return cls(image_processor=image_processor, tokenizer=tokenizer, video_processor=video_processor,
               chat_template=getattr(tokenizer, "chat_template", None))


def load_processor(
    cls: type | str, location: str, subfolder: str = "processor", revision: str | None = None,
    tokenizer_location: tuple[str, str] | None = None,
) -> Any | None:
    """The processor saved at ``location``/``subfolder`` built by hand (see the module docstring),
    or None with torchvision (then ``from_pretrained`` loads it as saved).

    Its tokenizer is the one saved beside it, or, for a processor folder without tokenizer files,
    the one at ``tokenizer_location`` (``(location, subfolder)``, e.g. the pipeline's tokenizer).
    Nothing is downloaded that ``from_pretrained`` would not read.
    """
    if has_torchvision():
        return None
    allow_processor_without_torchvision()
    from transformers import AutoTokenizer, Qwen2VLImageProcessorPil

    kwargs = {"subfolder": subfolder or "", "revision": revision}
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(location, **kwargs)
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, **kwargs)
    except (OSError, ValueError):  # no tokenizer files there (transformers says so either way)
        if tokenizer_location is None:
            raise
        where, folder = tokenizer_location
        tokenizer = AutoTokenizer.from_pretrained(where, subfolder=folder or "", revision=revision)
    return build_processor(cls, image_processor, tokenizer)


def modular_processor(pipe: Any, cls: type | str, name: str = "processor", tokenizer: str = "tokenizer") -> Any | None:
    """:func:`load_processor` for a modular pipeline's component ``name`` (where its component
    spec says it is saved; a tokenizer-less processor folder takes component ``tokenizer``'s),
    or None with torchvision or when the spec names no saved processor."""
    spec = pipe._component_specs.get(name)
    if has_torchvision() or spec is None or not spec.pretrained_model_name_or_path:
        return None
    other = pipe._component_specs.get(tokenizer)
    fallback = (other.pretrained_model_name_or_path, other.subfolder or "") if other is not None else None
    return load_processor(cls, spec.pretrained_model_name_or_path, spec.subfolder or "", spec.revision, fallback)


__all__ = [
    "allow_processor_without_torchvision",
    "build_processor",
    "has_torchvision",
    "load_processor",
    "modular_processor",
    "processor_class",
]
