"""wgp-http: an HTTP job API (``wgp serve``) over the wgp queue."""

__version__ = "0.1.0"
