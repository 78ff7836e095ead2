"""The fuzzing target (the real app over HTTP with seeded data) as a fixture for this package."""

from tests.fuzz.world import fuzz_target

__all__ = ["fuzz_target"]
