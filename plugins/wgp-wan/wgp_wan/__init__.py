"""Wan 2.1 and 2.2 video models for wgp, run with diffusers.

``wgp_wan.plugin`` registers the family (cheap, torch-free); ``wgp_wan.specs``
is the table of model ids and their parameters; ``wgp_wan.pipeline`` loads and
runs a model (``wgp_wan.vace`` and ``wgp_wan.animate`` add VACE's and Animate's media
inputs); ``wgp_wan.checks`` is the torch-free door check; ``wgp_wan.tiny`` builds
random-weight copies for tests.
"""

__version__ = "0.1.0"
