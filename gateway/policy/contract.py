"""The contract between the gateway and its policy engines.

Input is a JSON document (see `docs/policy.md`); the engine evaluates
`data.gateway.authz.decision` and answers `{"allow": bool, "reasons": [...], "obligations": {...},
"revision": "sha256:..."}`. The revision is the policy's own (`policies/revision.rego`); an answer
that does not carry exactly the revision the gateway computed from its policy files (another
policy, a permit-all server, an undefined or malformed answer) raises `PolicyRevisionMismatch`.
A well-formed answer of our revision that is not an allow is a deny; an engine that cannot answer
raises `PolicyEngineUnavailable`. The enforcement point turns both exceptions into a 503 (fail
closed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

POLICY_PACKAGE = "gateway.authz"
POLICY_RULE = "decision"


class PolicyEngineUnavailable(Exception):
    """The engine could not produce a decision (down, timed out, erroring)."""


class PolicyRevisionMismatch(PolicyEngineUnavailable):
    """The engine answered, but not with a decision of the expected policy revision (or, for an
    OPA server, its policy modules are not the gateway's)."""

    def __init__(self, expected: str, received: str | None, engine: str,
                 detail: str | None = None) -> None:
        self.expected = expected
        self.received = received
        self.engine = engine
        super().__init__(detail or f"the {engine} policy engine answered a decision of revision "
                         f"{received or '(none)'}; this gateway runs revision {expected}")


def received_revision(result: Any) -> str | None:
    """The revision an answer names (a short string), or None."""
    if isinstance(result, Mapping):
        value = result.get("revision")
        if isinstance(value, str):
            return value[:100]
    return None


@dataclass(frozen=True)
class Decision:
    allow: bool
    reasons: tuple[str, ...]
    revision: str
    engine: str
    obligations: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_result(cls, result: Any, *, revision: str, engine: str) -> Decision:
        """Normalise an engine's raw answer. It must name `revision` (PolicyRevisionMismatch
        otherwise, checked on every answer); then anything not a well-formed allow is a deny."""
        if not isinstance(result, Mapping) or result.get("revision") != revision:
            raise PolicyRevisionMismatch(revision, received_revision(result), engine)
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
