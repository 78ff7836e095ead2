"""Configuration from the environment (prefix GATEWAY_), refusing unsafe values in production.

`fields` declares every setting and its default, `production` the checks `Settings.check_safe`
runs, `google` where Google's endpoints and the local emulator's stand-ins are.
"""

from gateway.settings.fields import Environment, KeyProviderKind, Network
from gateway.settings.production import Settings, UnsafeSettings

__all__ = ["Environment", "KeyProviderKind", "Network", "Settings", "UnsafeSettings"]
