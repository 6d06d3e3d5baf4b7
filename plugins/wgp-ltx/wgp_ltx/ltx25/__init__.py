"""LTX-2.5 (video with its sound) for wgp, run with diffusers' ``LTX25ModularPipeline``.

The ``ltx25`` family, registered by :mod:`wgp_ltx.plugin` beside ``ltx`` and ``ltx2``, on
the shared Modular-pipeline base (:class:`wgp_diffusers.ModularDiffusersModel`): ``specs``
is the model table (torch-free), ``pipeline`` loads and runs it, ``tiny`` builds
random-weight copies for tests.
"""
