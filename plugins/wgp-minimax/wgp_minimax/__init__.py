"""MiniMax-H3 video with its soundtrack for wgp, run with diffusers' Modular pipeline.

``wgp_minimax.plugin`` registers the family (cheap, torch-free); ``wgp_minimax.specs``
is the table of model ids and their parameters; ``wgp_minimax.pipeline`` loads and
runs a model (on :class:`wgp_diffusers.ModularDiffusersModel`); ``wgp_minimax.tiny``
builds random-weight copies for tests.
"""

__version__ = "0.1.0"
