"""LTX-Video for wgp, run with diffusers.

``wgp_ltx.plugin`` registers the family (cheap, torch-free); ``wgp_ltx.specs``
is the model table and its parameters; ``wgp_ltx.pipeline`` loads and runs the
model; ``wgp_ltx.tiny`` builds random-weight copies for tests.
"""

__version__ = "0.1.0"
