"""LTX-Video, and LTX-2.x video with sound, for wgp, run with diffusers.

``wgp_ltx.plugin`` registers the families (cheap, torch-free).  LTX-Video (``ltx``):
``wgp_ltx.specs`` is the model table and its parameters; ``wgp_ltx.pipeline`` loads and
runs the model; ``wgp_ltx.tiny`` builds random-weight copies for tests.  LTX-2 and
LTX-2.3 (``ltx2``) are the same shape in :mod:`wgp_ltx.ltx2`, LTX-2.5 on the Modular
pipeline (``ltx25``) in :mod:`wgp_ltx.ltx25`.
"""

__version__ = "0.1.0"
