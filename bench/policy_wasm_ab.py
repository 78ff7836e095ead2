"""The embedded engine (OPA's Wasm) on each decision-table case, two policy directories
interleaved case by case: µs per decision, A vs B.

    .venv/bin/python bench/policy_wasm_ab.py <policies A> <policies B> [--rounds 5] [--iters 20]

The Wasm counterpart of bench/policy_case_bench (OPA's evaluator): both directories' compiled
modules (each directory's policies/compiled/, as scripts/compile_policy.sh writes it) are loaded
in one process and measured alternately on every case, so a slow minute slows both; the best of
`rounds` runs of `iters` evaluations is kept per case. Checks first that A and B decide every
case alike, revision aside (exit status 1 otherwise). Prints numbers; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.policy.engines import EmbeddedEngine
from gateway.policy.engines.rego_input import prune_nulls
from tests.support.decision_table import load_decision_table

TABLE = Path(__file__).resolve().parents[1] / "policies" / "decision_table.yaml"


def without_revision(result: Any) -> Any:
    if not isinstance(result, dict):
        return result
    return {k: v for k, v in result.items() if k != "revision"}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=20)
    args = parser.parse_args()
    cases = [prune_nulls(case.input) for case in load_decision_table(TABLE)]
    engines = {"A": EmbeddedEngine(args.a), "B": EmbeddedEngine(args.b)}
    results = {name: [engine.evaluate(case) for case in cases] for name, engine in engines.items()}
    differ = [i for i, (a, b) in enumerate(zip(results["A"], results["B"], strict=True))
              if without_revision(a) != without_revision(b)]
    if differ:
        print(f"{len(differ)} cases decided differently", file=sys.stderr)
        return 1
    allowed = [bool(result["allow"]) for result in results["A"]]
    best = {name: [float("inf")] * len(cases) for name in engines}
    for _ in range(args.rounds):
        for i, case in enumerate(cases):
            for name, engine in engines.items():
                start = time.perf_counter_ns()
                for _ in range(args.iters):
                    engine.evaluate(case)
                elapsed = (time.perf_counter_ns() - start) / args.iters / 1000
                best[name][i] = min(best[name][i], elapsed)
    print(f"{len(cases)} cases, best of {args.rounds} x {args.iters} evaluations each, "
          "µs per decision (embedded engine)")
    for label, outcome in (("allows", True), ("denies", False)):
        a, b = (statistics.mean(t for t, allow in zip(best[name], allowed, strict=True)
                                if allow == outcome) for name in ("A", "B"))
        count = allowed.count(outcome)
        print(f"  {label} ({count:3d} cases) mean A {a:6.1f}  B {b:6.1f}  B/A {b / a:.3f}")
    for engine in engines.values():
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
