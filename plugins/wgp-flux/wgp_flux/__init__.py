"""FLUX.1 and FLUX.2 image models for wgp, run with diffusers.

``wgp_flux.plugin`` registers the family (cheap, torch-free); ``wgp_flux.specs``
(FLUX.1) and ``wgp_flux.specs_flux2`` (FLUX.2) are the tables of model ids and their
parameters; ``wgp_flux.layout`` tells weights folders apart and ``wgp_flux.references``
checks FLUX.2 reference images at the door; ``wgp_flux.pipeline`` and
``wgp_flux.pipeline_flux2`` load and run a model; ``wgp_flux.tiny`` and
``wgp_flux.tiny_flux2`` build random-weight copies for tests.
"""

__version__ = "0.1.0"
