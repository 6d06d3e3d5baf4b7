"""The host's default plugins: writers, progress sinks and the in-memory queue.

Each module is registered through the same hooks as third-party plugins, so any
of them can be disabled with ``WGP_DISABLED_PLUGINS``.  Heavy imports (PyAV,
Pillow, soundfile, rich) happen inside methods, never at registration.
"""
