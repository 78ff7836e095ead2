"""The contract between the gateway and its policy engines.

Input is a JSON document (see `docs/policy.md`); the engine evaluates
`data.gateway.authz.decision` and answers `{"allow": bool, "reasons": [...], "obligations": {...}}`.
An undefined or malformed answer is a deny; an engine that cannot answer raises
`PolicyEngineUnavailable`, which the enforcement point turns into a 503 (fail closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

POLICY_PACKAGE = "gateway.authz"
POLICY_RULE = "decision"


class PolicyEngineUnavailable(Exception):
    """The engine could not produce a decision (down, timed out, erroring)."""


@dataclass(frozen=True)
class Decision:
    allow: bool
    reasons: tuple[str, ...]
    revision: str
    engine: str
    obligations: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_result(cls, result: Any, *, revision: str, engine: str) -> Decision:
        """Normalise an engine's raw answer; anything not a well-formed allow is a deny."""
        if not isinstance(result, Mapping):
            return cls(False, ("policy_undefined",), revision, engine)
        allow = result.get("allow") is True
        reasons_raw = result.get("reasons", [])
        reasons = tuple(sorted(str(r) for r in reasons_raw)) if isinstance(
            reasons_raw, list | tuple | set | frozenset) else ()
        obligations = result.get("obligations", {})
        if not isinstance(obligations, Mapping):
            obligations = {}
        if not allow and not reasons:
            reasons = ("default_deny",)
        return cls(allow, reasons, revision, engine, dict(obligations))


class PolicyEngine(Protocol):
    """Evaluates the Limited Use policy set. Implementations must be safe to call from threads."""

    name: str

    @property
    def revision(self) -> str: ...

    def decide(self, policy_input: Mapping[str, Any]) -> Decision: ...

    def ping(self) -> None:
        """Raise PolicyEngineUnavailable unless the engine can decide right now."""
        ...

    def close(self) -> None: ...
