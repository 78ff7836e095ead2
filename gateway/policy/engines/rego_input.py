"""The input normalisation both engines share.

Both engines drop object members whose value is null before evaluation (`prune_nulls`): by the
policy contract null and absent mean the same thing (docs/policy.md), and fewer nodes are cheaper.
"""

from __future__ import annotations

from typing import Any


def prune_nulls(value: Any) -> Any:
    """A copy of `value` without null object members (recursively; array items are kept)."""
    if type(value) is dict:
        return {k: prune_nulls(v) for k, v in value.items() if v is not None}
    if type(value) is list or type(value) is tuple:
        return [prune_nulls(v) for v in value]
    return value
