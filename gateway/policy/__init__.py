"""Policy: the engine interface, the OPA-server and embedded engines, enforcement,
consent grants."""
