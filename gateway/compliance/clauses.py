"""The clauses a report has a section for: Google's Limited Use rules (`lu.*`) and the privacy
policies' promises (`pp.*`), read from `policies/clauses.yaml`, the list the Rego `# METADATA`
annotations (`custom.clauses`) and the pytest marker `clause` name. Which rules and tests
belong to a clause is read from those, never listed here. A clause no policy rule can carry
names the code that implements it (`outside_rego`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

CLAUSES_FILE = "clauses.yaml"
GROUPS = {"lu": "Google API Services User Data Policy: Limited Use",
          "pp": "Privacy policy"}


@dataclass(frozen=True)
class Clause:
    id: str
    group: str
    title: str
    outside_rego: str | None = None


def load_clauses(policy_dir: Path) -> tuple[Clause, ...]:
    data = yaml.safe_load((policy_dir / CLAUSES_FILE).read_text(encoding="utf-8"))
    clauses = []
    for clause_id, spec in (data.get("clauses") or {}).items():
        prefix = str(clause_id).split(".")[0]
        clauses.append(Clause(str(clause_id), GROUPS.get(prefix, prefix),
                              " ".join(str(spec.get("text", "")).split()),
                              " ".join(str(spec["outside_rego"]).split())
                              if spec.get("outside_rego") else None))
    return tuple(clauses)
