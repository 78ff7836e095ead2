"""OPA's evaluation of the policy alone, over the whole decision table: µs per decision.

    .venv/bin/python bench/policy_eval_bench.py [--against OTHER_POLICY_DIR] [--runs 6]

One `opa bench` query decides all 199 table inputs (`with input as` each, null members pruned as
the engines do), so the figure is OPA's evaluator only: no HTTP, no input parsing, no client.
With --against, the two policy directories are measured in alternating runs (A B A B ...) and
the medians compared: this VM's speed swings by a third within minutes, so only interleaved
runs compare. E.g. another revision's policies (`git worktree add /tmp/other <commit>`, then
`--against /tmp/other/policies`).
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.policy.engines.opa_binary import find_opa_binary, policy_file_args
from gateway.policy.engines.rego_input import prune_nulls
from tests.support.decision_table import load_decision_table

ROOT = Path(__file__).resolve().parents[1]
QUERY = "[d | some c in data.benchcases; d := data.gateway.authz.decision with input as c]"


def run_once(opa: Path, policy_dir: Path, cases_file: Path, count: int) -> float:
    """µs per decision for one `opa bench` run over the table."""
    args = [str(opa), "bench", "--format", "json", "--count", "1", "-d", str(cases_file)]
    for path in policy_file_args(policy_dir):
        args += ["-d", path]
    out = subprocess.run([*args, QUERY], capture_output=True, text=True, check=True,
                         timeout=300).stdout
    result = json.loads(out)  # Go's testing.BenchmarkResult: N iterations in T ns
    return float(result["T"]) / float(result["N"]) / count / 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--policies", type=Path, default=ROOT / "policies")
    parser.add_argument("--against", type=Path, default=None, help="a second policy directory")
    parser.add_argument("--runs", type=int, default=6)
    args = parser.parse_args()
    opa = find_opa_binary()
    if opa is None:
        raise SystemExit("no OPA binary (scripts/lib.sh ensure_opa)")
    cases = load_decision_table(ROOT / "policies" / "decision_table.yaml")
    dirs = [args.policies] + ([args.against] if args.against else [])
    results: dict[Path, list[float]] = {d: [] for d in dirs}
    with tempfile.TemporaryDirectory() as tmp:
        cases_file = Path(tmp) / "benchcases.json"
        cases_file.write_text(json.dumps({"benchcases": [prune_nulls(c.input) for c in cases]}))
        for _ in range(args.runs):
            for d in dirs:
                results[d].append(run_once(opa, d, cases_file, len(cases)))
    print(f"{len(cases)} table cases per query, {args.runs} runs each"
          + (", interleaved" if args.against else ""))
    for d, values in results.items():
        print(f"  {d!s:<40} median {statistics.median(values):7.1f} µs per decision  "
              f"(runs: {', '.join(f'{v:.1f}' for v in values)})")


if __name__ == "__main__":
    main()
