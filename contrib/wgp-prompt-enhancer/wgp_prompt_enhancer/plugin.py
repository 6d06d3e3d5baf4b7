"""Registers the ``prompt_enhancer`` adapter; ``wgp prompt-enhancer`` is in :mod:`.command`."""

from __future__ import annotations

from typing import Any, Mapping

from wgp_hookspecs import Adapter, AdapterOption, GenerationContext, GenerationRequest, UserError, hookimpl

from .bridge import DEFAULT_TEMPLATE, PromptEnhancerBridge

#: Config keys: ``prompt_enhancer_model`` (a folder or repo id), ``prompt_enhancer_default``
#: (enhance every job), ``prompt_enhancer_max_new_tokens``, ``prompt_enhancer_template``.
MODEL_KEY, DEFAULT_KEY = "prompt_enhancer_model", "prompt_enhancer_default"
#: An image-to-text model (BLIP-style) that describes the start image of image-to-video jobs.
CAPTIONER_KEY = "prompt_enhancer_captioner"


class PromptEnhancerAdapter(Adapter):
    name = "prompt_enhancer"
    description = "Rewrites the prompt with a local LLM before generation; the result is frozen into the job"
    options = (
        AdapterOption("enhance_prompt", ("--enhance-prompt",), "Rewrite the prompt with the configured local LLM.",
                      is_flag=True),
        AdapterOption("reset_prompt_enhancer", ("--reset-prompt-enhancer",),
                      "Unload the prompt enhancer's LLM so the next job loads it again.", is_flag=True),
    )

    def __init__(self) -> None:
        self.bridge = PromptEnhancerBridge()

    def resolve(self, request: GenerationRequest, options: Mapping[str, Any]) -> Mapping[str, Any] | None:
        if options.get("reset_prompt_enhancer"):
            self.bridge.reset()
        if not (options.get("enhance_prompt") or options.get(DEFAULT_KEY)):
            return None
        location = options.get(MODEL_KEY)
        if not location:
            raise UserError(f"--enhance-prompt needs a model: set {MODEL_KEY} in the config (a folder or repo id)")
        # Only the request is frozen here; the LLM runs when the job is primed.
        payload = {
            "model": str(location),
            "max_new_tokens": int(options.get("prompt_enhancer_max_new_tokens") or 64),
            "template": str(options.get("prompt_enhancer_template") or DEFAULT_TEMPLATE),
            "original": request.prompt,
        }
        captioner = options.get(CAPTIONER_KEY)
        if captioner and request.params.get("image_start"):
            payload.update({"captioner": str(captioner), "image": str(request.params["image_start"])})
        return payload

    def prime(self, request: GenerationRequest, payload: Mapping[str, Any], context: GenerationContext) -> Mapping[str, Any] | None:
        if "enhanced" in payload:  # a replay: never run the LLM again
            context.emit("prompt_enhancer.replayed", enhanced=payload["enhanced"])
            return None
        caption = ""
        if payload.get("captioner"):
            caption = self.bridge.caption(str(payload["image"]), str(payload["captioner"]), context.emit)
        self.bridge.ensure_loaded(str(payload["model"]), context.emit)
        enhanced = self.bridge.enhance(str(payload.get("original") or request.prompt),
                                       int(payload.get("max_new_tokens", 64)), str(payload.get("template", DEFAULT_TEMPLATE)),
                                       caption)
        context.emit("prompt_enhancer.enhanced", enhanced=enhanced)
        primed = {**payload, "enhanced": enhanced, "enhancer": dict(self.bridge.identity)}
        if payload.get("captioner"):
            primed["caption"] = caption
        return primed

    def transform(self, request: GenerationRequest, payload: Mapping[str, Any]) -> GenerationRequest:
        if "enhanced" not in payload:
            return request
        return GenerationRequest(request.model, {**request.params, "prompt": payload["enhanced"]})


@hookimpl
def register_adapters(register: Any) -> None:
    register(PromptEnhancerAdapter)
