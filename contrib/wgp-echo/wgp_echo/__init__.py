"""wgp-echo: a torch-free toy model family."""

__version__ = "0.1.0"
