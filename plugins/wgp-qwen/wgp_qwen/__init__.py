"""Qwen-Image models for wgp, run with diffusers.

``wgp_qwen.plugin`` registers the family (cheap, torch-free); ``wgp_qwen.specs`` is the
table of model ids and their parameters; ``wgp_qwen.pipeline`` loads and runs a model;
``wgp_qwen.tiny`` builds random-weight copies for tests.
"""

__version__ = "0.1.0"
