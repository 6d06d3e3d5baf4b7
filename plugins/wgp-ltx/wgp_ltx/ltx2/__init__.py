"""LTX-2 and LTX-2.3 (video with its sound) for wgp, run with diffusers' LTX2 pipelines.

The ``ltx2`` family, registered by :mod:`wgp_ltx.plugin` beside ``ltx``: ``specs`` is the
model table (torch-free), ``pipeline`` loads and runs it (text, image or conditioning
to video, audio out), ``tiny`` builds random-weight copies for tests.
"""
