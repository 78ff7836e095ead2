"""The clauses a report has a section for: Google's Limited Use rules and the privacy-policy
clauses the gateway serves (requirements §1, §2, §3, §5). The ids are the ones the Rego
`# METADATA` annotations (`custom.clauses`) and the pytest marker `clause` name; which rules and
tests belong to a clause is read from those, never listed here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Clause:
    id: str
    group: str
    title: str


LIMITED_USE = "Google API Services User Data Policy: Limited Use"
PRIVACY_POLICY = "Privacy policy"

CLAUSES: tuple[Clause, ...] = (
    Clause("lu.user_facing", LIMITED_USE, "1. Only for user-facing features"),
    Clause("lu.transfer", LIMITED_USE,
           "2. No transfer except for a feature with consent, security, law, or a merger"),
    Clause("lu.advertising", LIMITED_USE, "3. Never used for advertising"),
    Clause("lu.sale", LIMITED_USE,
           "3. Never sold or given to ad platforms, data brokers or resellers"),
    Clause("lu.credit", LIMITED_USE, "4. Never for credit-worthiness or lending"),
    Clause("lu.ai_training", LIMITED_USE, "5. Never to create, train or improve AI/ML models"),
    Clause("lu.human_reading", LIMITED_USE, "6. No human reads the data, except:"),
    Clause("lu.human_reading.consent", LIMITED_USE,
           "6a. the user's affirmative agreement for specific messages"),
    Clause("lu.human_reading.security", LIMITED_USE,
           "6b. security (a bug or abuse), with a recorded justification"),
    Clause("lu.human_reading.legal", LIMITED_USE,
           "6c. to comply with applicable law, with a recorded justification"),
    Clause("lu.human_reading.aggregated", LIMITED_USE,
           "6d. aggregated and anonymised for internal operations"),
    Clause("lu.analytics", LIMITED_USE,
           "Aggregated-only analytics, over cohorts of at least k users"),
    Clause("lu.derived", LIMITED_USE, "7. The rules cover derived and aggregated data too"),
    Clause("pp.operation_log", PRIVACY_POLICY,
           "A one-year operation log of the six fields, with decision and purpose"),
    Clause("pp.encryption", PRIVACY_POLICY,
           "Encryption at rest; content only reachable through an allow"),
    Clause("pp.user_rights", PRIVACY_POLICY,
           "Access and portability, restriction, objection, each logged"),
    Clause("pp.deletion", PRIVACY_POLICY,
           "Erasure within the log obligation (crypto-shredding)"),
)

CLAUSE_IDS = frozenset(c.id for c in CLAUSES)
