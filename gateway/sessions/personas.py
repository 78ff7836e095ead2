"""Which pages a principal's session opens: its persona follows from the principal's kind.
Each persona has a home and the purpose its session is opened and ended under."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.policy.vocabulary import ActorKind


@dataclass(frozen=True)
class Persona:
    name: str
    home: str
    purpose: str
    title: str


PERSONAS = {
    ActorKind.end_user.value: Persona("privacy", "/me", "user_rights", "Privacy center"),
    ActorKind.operator.value: Persona("desk", "/desk", "consent_management", "Access desk"),
    ActorKind.reviewer.value: Persona("console", "/console", "audit_review", "Review console"),
}


def persona_of(kind: str) -> Persona | None:
    return PERSONAS.get(kind)


def purpose_of(kind: str) -> str:
    """The purpose a session of this kind is opened and ended under (its persona's)."""
    persona = PERSONAS.get(kind)
    return persona.purpose if persona is not None else "user_rights"
