"""A faithful local Google for tests and demos: OAuth 2.0, Gmail API v1 and Pub/Sub push.

The package is independent of the gateway: it never imports ``gateway`` and the gateway never
imports it. Start it with ``gmail-emulator serve`` or, in tests, ``emulator.testing.run_emulator``.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
