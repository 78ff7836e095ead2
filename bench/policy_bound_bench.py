"""How fast could the OPA server decide if parts of the policy cost nothing? Upper bounds.

    .venv/bin/python bench/policy_bound_bench.py [--rounds N] [--passes N] [--opa PATH]
    .venv/bin/python bench/policy_bound_bench.py --write-variants DIR   # then, per case:
    cd bench/policy_case_bench && go run . ../../policies DIR/free

Four OPA sidecars, each with its own OpaServerEngine (the gateway's client), decide the
decision table's inputs in rotating passes (A B C D, B C D A, ...), so all four see the same
minutes of this VM:

  - the policy: policies/ as it is;
  - explanations free: the same files with `denies` (which explains a refusal) replaced by a
    constant set, so every refusal is decided by the real permits and then explained for free:
    the bound on what any rewrite of the explanations could gain;
  - two checks: a policy that only looks the capability up in data.json and compares the
    tenants (the cheapest policy that reads the input and the tables at all);
  - constant policy: `decision := {...}`, no evaluation at all: the floor of an HTTP decision
    through this client, OPA's handler and this machine's scheduler.

Per variant: p50 of every pass (its spread is the VM's), p50 and p99 over all passes, and the OPA
server's CPU per decision. It also checks that the first two allow exactly what the table
allows. Prints numbers; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.policy_measure import (
    Result,
    constant_policy_dir,
    cpu_idle,
    process_cpu_ns,
    speed_probe,
    warm_server,
)
from gateway.policy.engines import OpaServerEngine
from gateway.policy.engines.opa_binary import find_opa_binary
from gateway.policy.engines.revision import write_revision_module
from tests.support.decision_table import TableCase, load_decision_table
from tests.support.opa_process import OpaServerProcess

POLICY_DIR = Path(__file__).resolve().parents[1] / "policies"
DENIES_RULE = "denies := judged_problems if {\n\tbase_ok\n} else := malformed\n"
FREE_DENIES = 'denies := {"refused"} # explanations free (bench/policy_bound_bench.py)\n'


def explanations_free_dir(root: Path) -> Path:
    """A copy of policies/ (its .rego files and data.json) whose `denies` is a constant."""
    for path in [*POLICY_DIR.glob("*.rego"), POLICY_DIR / "data.json"]:
        shutil.copy(path, root / path.name)
    authz = root / "authz.rego"
    text = authz.read_text(encoding="utf-8")
    if text.count(DENIES_RULE) != 1:
        raise SystemExit("policies/authz.rego: the `denies` rule is not the one this bench "
                         "replaces; update DENIES_RULE")
    authz.write_text(text.replace(DENIES_RULE, FREE_DENIES), encoding="utf-8")
    write_revision_module(root)
    return root


TWO_CHECKS_POLICY = """package gateway.authz

import data.gateway.tables

decision := {"allow": true, "reasons": ["allow"], "obligations": {},
\t"revision": policy_revision} if {
\ttables.capabilities[input.actor.kind][input.action][input.purpose] == true
\tinput.resource.tenant == input.actor.tenant
} else := {"allow": false, "reasons": ["refused"], "obligations": {}, "revision": policy_revision}
"""


def two_checks_dir(root: Path) -> Path:
    """data.json and a two-check decision (TWO_CHECKS_POLICY)."""
    shutil.copy(POLICY_DIR / "data.json", root / "data.json")
    (root / "two_checks.rego").write_text(TWO_CHECKS_POLICY, encoding="utf-8")
    write_revision_module(root)
    return root


def write_variants(root: Path) -> list[Path]:
    """The three variants' policy directories under `root`: free, two, constant."""
    dirs = [root / name for name in ("free", "two", "constant")]
    for path in dirs:
        path.mkdir(parents=True, exist_ok=True)
    return [explanations_free_dir(dirs[0]), two_checks_dir(dirs[1]),
            constant_policy_dir(dirs[2])]


def check_allows(label: str, engine: OpaServerEngine, cases: list[TableCase]) -> None:
    wrong = [c.name for c in cases if engine.decide(c.input).allow != c.allow]
    if wrong:
        raise SystemExit(f"{label}: {len(wrong)} cases allowed differently from the table: "
                         f"{wrong[:3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="rotations of the variants")
    parser.add_argument("--passes", type=int, default=5,
                        help="passes over the decision table per variant in each rotation")
    parser.add_argument("--opa", default=None, help="path to the opa binary")
    parser.add_argument("--write-variants", metavar="DIR", type=Path,
                        help="only write the variants' policy directories into DIR (free, "
                             "two, constant), e.g. for bench/policy_case_bench")
    args = parser.parse_args()
    if args.write_variants:
        for path in write_variants(args.write_variants):
            print(path)
        return
    opa_binary = find_opa_binary(args.opa)
    if opa_binary is None:
        raise SystemExit("no opa binary: run scripts/install_opa.sh or pass --opa")
    cases = load_decision_table(POLICY_DIR / "decision_table.yaml")
    print(f"decision table: {len(cases)} cases ({sum(c.allow for c in cases)} allow); "
          f"{args.rounds} rotations x {args.passes} passes per variant")
    print(f"machine: speed probe {speed_probe()}; {cpu_idle()}")

    with tempfile.TemporaryDirectory() as tmp:
        variants = [("the policy", POLICY_DIR),
                    *zip(("explanations free", "two checks", "constant policy"),
                         write_variants(Path(tmp)), strict=True)]
        servers = [OpaServerProcess(opa_binary, d) for _, d in variants]
        engines = []
        try:
            for server, (label, policy_dir) in zip(servers, variants, strict=True):
                server.start()
                engine = OpaServerEngine(server.url, policy_dir, timeout=2.0)
                engines.append(engine)
                if label in ("the policy", "explanations free"):
                    check_allows(label, engine, cases)
                warm_server(engine, cases)
            results = rotate(variants, engines, servers, cases, args.rounds, args.passes)
        finally:
            for engine in engines:
                engine.close()
            for server in servers:
                server.stop()
    for result, pass_p50s in results:
        print(result.line())
        print(f"    p50 per pass (ms): {' '.join(f'{p:.3f}' for p in sorted(pass_p50s))}")
    print(f"speed probe at the end: {speed_probe()}")


def rotate(variants: list[tuple[str, Path]], engines: list[OpaServerEngine],
           servers: list[OpaServerProcess], cases: list[TableCase], rounds: int,
           passes: int) -> list[tuple[Result, list[float]]]:
    n = len(variants)
    samples: list[list[int]] = [[] for _ in range(n)]
    pass_p50s: list[list[float]] = [[] for _ in range(n)]
    cpu, server_cpu = [0] * n, [0] * n
    gc.collect()
    gc.disable()
    try:
        for r in range(rounds * n):
            k = (r + r // n) % n  # A B C D, B C D A, C D A B, ...
            engine, pid = engines[k], servers[k].pid
            for _ in range(passes):
                cpu_start, server_start = time.thread_time_ns(), process_cpu_ns(pid)
                this_pass = []
                for case in cases:
                    start = time.perf_counter_ns()
                    engine.decide(case.input)
                    this_pass.append(time.perf_counter_ns() - start)
                cpu[k] += time.thread_time_ns() - cpu_start
                server_cpu[k] += process_cpu_ns(pid) - server_start
                samples[k] += this_pass
                pass_p50s[k].append(sorted(this_pass)[len(this_pass) // 2] / 1e6)
    finally:
        gc.enable()
    return [(Result(label, samples[k], cpu[k], server_cpu[k]), pass_p50s[k])
            for k, (label, _) in enumerate(variants)]


if __name__ == "__main__":
    main()
