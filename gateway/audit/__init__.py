"""The one-year operation log: writer, hash chains and checkpoints, retention, reviewer API."""
