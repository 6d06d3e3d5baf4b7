"""Z-Image models (Tongyi-MAI) for wgp, run with diffusers.

``wgp_zimage.plugin`` registers the family (cheap, torch-free); ``wgp_zimage.specs`` is the
table of model ids and their parameters; ``wgp_zimage.pipeline`` loads and runs a model;
``wgp_zimage.tiny`` builds random-weight copies for tests.
"""

__version__ = "0.1.0"
