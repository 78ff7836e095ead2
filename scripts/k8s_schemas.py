"""Write standalone Kubernetes JSON schemas for kubeconform from the ones kubernetes-validate ships.

kubernetes-validate (PyPI) carries the strict OpenAPI-derived schemas of each Kubernetes release,
split into one file per kind that refers to a shared `_definitions.json`. kubeconform resolves
schemas from a local directory only when each file stands alone, so this inlines the shared
definitions into every kind's file. Usage: k8s_schemas.py VERSION OUT_DIR (e.g. 1.33.0 .tools/k8s).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate

REF = re.compile(r'"#/\$defs/([^"]+)"')


def standalone(kind_schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The kind's schema with the definitions it reaches, and only those, inlined."""
    text = json.dumps(kind_schema).replace('"/api/_definitions.json#/$defs/', '"#/$defs/')
    schema: dict[str, Any] = json.loads(text)
    reached: dict[str, Any] = {}
    pending = REF.findall(text)
    while pending:
        name = pending.pop()
        if name not in reached:
            reached[name] = defs[name]
            pending += REF.findall(json.dumps(defs[name]))
    schema["$defs"] = reached
    schema.pop("$id", None)
    return schema


def main(version: str, out: Path) -> int:
    source = (Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
              / f"v{version}-local-strict")
    if not source.is_dir():
        print(f"kubernetes-validate has no schemas for Kubernetes {version}", file=sys.stderr)
        return 1
    target = out / f"v{version}-standalone-strict"
    target.mkdir(parents=True, exist_ok=True)
    defs = json.loads((source / "_definitions.json").read_text())["$defs"]
    for file in source.glob("*.json"):
        if file.name.startswith("_") or file.name == "all.json":
            continue
        schema = standalone(json.loads(file.read_text()), defs)
        (target / file.name).write_text(json.dumps(schema))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
