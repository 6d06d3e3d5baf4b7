"""wgp-matanyone: video matting with the MatAnyone network (our own implementation).

Importing this package is cheap; ``wgp_matanyone.network`` imports torch.
"""

__version__ = "0.1.0"
