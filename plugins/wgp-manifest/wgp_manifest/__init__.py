"""wgp-manifest: the JSONL manifest writer and the JSON sidecar writer."""

__version__ = "0.1.0"
