"""wgp-celery: the ``celery`` queue backend (job state in wgp's own Redis keys, workers run by Celery)."""

__version__ = "0.1.0"
