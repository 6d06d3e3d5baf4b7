"""HunyuanVideo 1.5 text-to-video and image-to-video for wgp, run with diffusers.

``wgp_hunyuan.plugin`` registers the family (cheap, torch-free); ``wgp_hunyuan.specs``
is the table of model ids and their parameters; ``wgp_hunyuan.pipeline`` loads and
runs a model; ``wgp_hunyuan.tiny`` builds random-weight copies for tests.
"""

__version__ = "0.1.0"
