"""Wan 2.1 and 2.2 video models for wgp, run with diffusers.

``wgp_wan.plugin`` registers the family (cheap, torch-free); ``wgp_wan.specs``
is the table of model ids and their parameters; ``wgp_wan.pipeline`` loads and
runs a model; ``wgp_wan.tiny`` builds random-weight copies for tests.
"""

__version__ = "0.1.0"
