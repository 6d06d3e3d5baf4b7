"""``wgp prompt-enhancer``: build a tiny LLM for tests, or enhance one prompt by hand.

Declared as a ``wgp.commands`` entry point: ``wgp --help`` lists it without
importing this module; the host interface arrives as the click context's object.
"""

from __future__ import annotations

import json

import click

from wgp_hookspecs import Host, UserError

from .plugin import MODEL_KEY


@click.group("prompt-enhancer")
def prompt_enhancer() -> None:
    """The local LLM that rewrites prompts (--enhance-prompt)."""


@prompt_enhancer.command("tiny")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--captioner", is_flag=True, help="Build a tiny BLIP image captioner instead of the LLM.")
def tiny(folder: str, captioner: bool) -> None:
    """Write a random-weight causal LM (or captioner) with a local tokenizer to FOLDER (tests, demos)."""
    from .bridge import build_tiny_captioner, build_tiny_lm

    built = build_tiny_captioner(folder) if captioner else build_tiny_lm(folder)
    click.echo(f"wrote tiny {'captioner' if captioner else 'prompt enhancer'} to {built}")


@prompt_enhancer.command("run")
@click.argument("prompt")
@click.option("--model", "location", metavar="DIR_OR_REPO", help="LLM to use (default: config prompt_enhancer_model).")
@click.pass_obj
def run(host: Host, prompt: str, location: str | None) -> None:
    """Print the enhanced version of PROMPT."""
    from .bridge import PromptEnhancerBridge

    location = location or host.config().get(MODEL_KEY)
    if not location:
        raise UserError(f"no model: pass --model or set {MODEL_KEY} in the config")
    bridge = PromptEnhancerBridge()
    bridge.ensure_loaded(str(location))
    click.echo(json.dumps({"prompt": prompt, "enhanced": bridge.enhance(prompt), "enhancer": bridge.identity}))
