"""FLUX.1 image models for wgp, run with diffusers.

``wgp_flux.plugin`` registers the family (cheap, torch-free); ``wgp_flux.specs``
is the table of model ids and their parameters; ``wgp_flux.pipeline`` loads and
runs a model; ``wgp_flux.tiny`` builds random-weight copies for tests.
"""

__version__ = "0.1.0"
