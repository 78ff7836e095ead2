"""Policy decision cost: decisions/s and p50/p99 latency, embedded (Wasm) and OPA server.

    .venv/bin/python bench/policy_bench.py [--rounds N] [--opa PATH] [--engines embedded,opa]

Inputs: the decision table (policies/decision_table.yaml, every case, round-robin), which mixes
allows and denies of every actor kind, so deny paths (which evaluate the explanatory rules) are
measured too.

Consent grants "in the store": the design puts the one applicable grant into the policy input,
never the store into the policy, so the engine's work does not depend on how many grants exist.
What does depend on it is finding that grant, so each configuration (10 and 100,000 grants) is
measured end to end, per decision:

  1. look up the applicable grant in an in-memory index of all N grants, the way the enforcement
     point's store lookup works: candidates by (mailbox, message id) and (mailbox, thread id),
     filtered by operator id or group, unrevoked and unexpired first (dict lookups: O(candidates),
     not O(N)); the 100,000-grant store puts 2,000 of them on the table's own mailbox, so the
     candidate lists are not trivially empty;
  2. assemble the input: a shallow copy of the case's input with the grant found (or, when the
     store has none for that case, the case's own grant, so that every decision stays the one
     the table expects and the engines decide realistic inputs);
  3. decide (input building + evaluation for the embedded engine; for the OPA engine an HTTP POST
     to a local `opa run --server` by opa-python-client's OpaClient as KeepAliveOpaClient, whose
     query_rule uses one persistent socket and a minimal HTTP/1.1 reader: gateway/policy/engines/
     opa_transport.py).

Also reported: the engine alone (step 3 only) and the lookup alone (steps 1-2), and the CPU
time per decision (this thread, plus the OPA server process for the OPA engine): wall-clock
latency on a shared 2-CPU machine moves with the load of other processes, CPU time much less.
Not included:
the database round trip of a real grant lookup (the store is in memory here), the operation-log
write, and FastAPI. Single thread; the OPA server shares the same two cores with this process.

Where the time goes (printed per engine, so a miss can be attributed):
  - the engine's floor: the same engine class on a *constant* policy (`decision := {...}`), i.e.
    input building + interpreter/VM entry + output parsing for the embedded engine, and
    opa-python-client + HTTP + OPA's handler for the OPA engine, with no evaluation at all;
  - for OPA, the server's own timers (`?metrics=true`: input parse, evaluation, whole handler),
    and two references (not the engine): opa-python-client's stock `query_rule` over `requests`
    (what the engine used before KeepAliveOpaClient) on the real policy, and the same POST over
    a bare `http.client` connection on the constant policy;
  - CPU per decision split into this thread (Python: client, input building, wasmtime) and the
    OPA server process.

The in-memory store isolates the engines. The gateway's real lookup
(gateway/consent/service.py `applicable_grant`, a PostgreSQL query) is measured too when
GATEWAY_TEST_DATABASE_URL is set (`--store pg|memory|auto`, bench/policy_store.py): 10 and
100,000 grants seeded in a fresh migrated database, an operator's reads of messages a live
grant covers, only a lapsed grant covers, and none covers; lookup alone and lookup + decide,
each decision checked against what the seeding implies.

Prints numbers; asserts nothing. Target: p50 <= 0.5 ms, p99 <= 2 ms per decision, each engine.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from opa_client.opa import OpaClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import policy_measure
from bench.policy_measure import (
    constant_policy_dir,
    cpu_idle,
    measure,
    measure_interleaved,
    speed_probe,
    warm_server,
)
from bench.policy_store import PgGrantStore, check, operator_template, pg_stores
from gateway.policy.contract import PolicyEngine
from gateway.policy.engines import EmbeddedEngine, OpaServerEngine
from gateway.policy.engines.opa_binary import find_opa_binary
from gateway.policy.engines.rego_input import prune_nulls
from tests.support.decision_table import TableCase, load_decision_table
from tests.support.opa_process import OpaServerProcess

ROOT = Path(__file__).resolve().parents[1]
POLICY_DIR = ROOT / "policies"
NOW_NS = 1_700_000_000_000_000_000
HOUR_NS = 3_600_000_000_000


# --- the grant store ------------------------------------------------------------------------------

@dataclass
class GrantStore:
    """Consent grants indexed as the enforcement point needs them."""

    by_message: dict[tuple[str, str], list[dict[str, Any]]]
    by_thread: dict[tuple[str, str], list[dict[str, Any]]]
    size: int

    @classmethod
    def build(cls, grants: list[dict[str, Any]]) -> GrantStore:
        by_message: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        by_thread: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for grant in grants:
            for message_id in grant["message_ids"]:
                by_message[(grant["mailbox"], message_id)].append(grant)
            for thread_id in grant["thread_ids"]:
                by_thread[(grant["mailbox"], thread_id)].append(grant)
        return cls(dict(by_message), dict(by_thread), len(grants))

    def applicable(self, policy_input: dict[str, Any]) -> dict[str, Any] | None:
        """The one grant for this operator and these messages (or their thread), if any."""
        actor = policy_input.get("actor") or {}
        resource = policy_input.get("resource") or {}
        mailbox = resource.get("mailbox")
        if actor.get("kind") != "operator" or not mailbox:
            return None
        operator, groups = actor.get("id"), set(actor.get("groups") or ())
        candidates: list[dict[str, Any]] = []
        ids = resource.get("ids") or []
        if ids:
            first = self.by_message.get((mailbox, ids[0]), [])
            candidates += [g for g in first if all(i in g["message_ids"] for i in ids[1:])]
        thread = resource.get("thread_id")
        if thread:
            candidates += self.by_thread.get((mailbox, thread), [])
        mine = [g for g in candidates
                if g["operator"] == operator or (g["operator_group"] in groups)]
        if not mine:
            return None
        now = policy_input.get("now_ns", 0)
        live = [g for g in mine if not g["revoked"] and g["expires_at_ns"] > now]
        return max(live or mine, key=lambda g: g["expires_at_ns"])


def assemble(store: GrantStore, case: TableCase) -> dict[str, Any]:
    """The case's input with the grant the store finds (the case's own when it finds none)."""
    found = store.applicable(case.input)
    if found is None:
        return case.input
    policy_input = dict(case.input)
    policy_input["grant"] = found
    return policy_input


def synthetic_grants(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    grants = []
    hot = min(2_000, count // 5)  # on the table's own mailbox, other messages/operators
    for n in range(count):
        mailbox = "mb-alice" if n < hot else f"mb-{rng.randrange(count // 4 + 1)}"
        grants.append({
            "id": f"g-syn-{n}",
            "operator": f"op-{rng.randrange(200)}",
            "operator_group": None,
            "owner": "u-alice" if mailbox == "mb-alice" else f"u-{mailbox}",
            "mailbox": mailbox,
            "message_ids": [f"m-{rng.randrange(1_000_000)}" for _ in range(rng.randint(1, 3))],
            "thread_ids": [f"th-{rng.randrange(100_000)}"] if rng.random() < 0.2 else [],
            "purpose": "support",
            "expires_at_ns": NOW_NS + rng.randint(-4, 4) * HOUR_NS,
            "revoked": rng.random() < 0.1,
        })
    return grants


def table_grants(cases: list[TableCase]) -> list[dict[str, Any]]:
    """The grants of the table's operator cases that are valid as they stand."""
    seen, grants = set(), []
    for case in cases:
        grant = case.input.get("grant")
        if case.allow and isinstance(grant, dict) and grant.get("id") not in seen:
            seen.add(grant.get("id"))
            grants.append(grant)
    return grants


# --- where the time goes ----------------------------------------------------------------------


def floor_line(name: str, cases: list[TableCase], rounds: int, opa_binary: Path | None,
               engine_under_test: PolicyEngine, pid: int | None) -> None:
    """The same engine class on the constant policy, with the table's inputs; for the OPA
    engine also interleaved with the engine under test (what the policy's evaluation adds)."""
    with tempfile.TemporaryDirectory() as tmp:
        policy_dir = constant_policy_dir(Path(tmp))
        if name == "embedded":
            engine: PolicyEngine = EmbeddedEngine(policy_dir)
            print(measure("floor: same engine, constant policy", cases,
                          lambda c, e=engine: e.decide(c.input), rounds).line())
            engine.close()
        elif name == "opa" and opa_binary is not None:
            with OpaServerProcess(opa_binary, policy_dir) as server:
                engine = OpaServerEngine(server.url, policy_dir, timeout=2.0)
                warm_server(engine, cases)
                print(measure("floor: same engine, constant policy", cases,
                              lambda c, e=engine: e.decide(c.input), rounds, server.pid).line())
                pair = measure_interleaved(
                    ("interleaved: the policy", "interleaved: constant policy"),
                    (lambda c: engine_under_test.decide(c.input),
                     lambda c, e=engine: e.decide(c.input)),
                    (pid, server.pid), cases, rounds)
                for result in pair:
                    print(result.line())
                engine.close()
                print(bare_http_line(server, cases, rounds))


def bare_http_line(server: OpaServerProcess, cases: list[TableCase], rounds: int) -> str:
    """Reference, not an engine: the same POST over a kept-alive http.client connection."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2.0)
    headers = {"Content-Type": "application/json"}
    path = "/v1/data/gateway/authz/decision"

    def post(case: TableCase) -> object:
        body = json.dumps({"input": prune_nulls(case.input)}).encode()
        conn.request("POST", path, body=body, headers=headers)
        return json.loads(conn.getresponse().read())

    try:
        return measure("  (reference: bare http.client, same server)", cases, post, rounds,
                       server.pid).line()
    finally:
        conn.close()


def requests_client_line(engine: OpaServerEngine, cases: list[TableCase], rounds: int,
                         pid: int | None) -> str:
    """Reference: opa-python-client's own query_rule (requests), same server and inputs."""
    client = OpaClient(host=engine._host, port=engine._port, timeout=2.0, retries=1)
    client._session.trust_env = False

    def decide(case: TableCase) -> object:
        return client.query_rule(input_data=prune_nulls(case.input),
                                 package_path="gateway.authz", rule_name="decision")

    try:
        return measure("  (reference: stock OpaClient over requests)", cases, decide, rounds,
                       pid).line()
    finally:
        client.close_connection()


def default_procs_line(opa_binary: Path | None, cases: list[TableCase], rounds: int) -> str:
    """Reference: the same engine on a sidecar left with Go's defaults (GOMAXPROCS one per CPU,
    GOGC=100), which is what OpaServerProcess's GOMAXPROCS=1 and GOGC=400 are compared with."""
    if opa_binary is None or "GOMAXPROCS" in os.environ or "GOGC" in os.environ:
        return "    (reference: Go's defaults: skipped, GOMAXPROCS or GOGC is set)"
    with OpaServerProcess(opa_binary, POLICY_DIR, gomaxprocs=None, gogc=None) as server:
        engine = OpaServerEngine(server.url, POLICY_DIR, timeout=2.0)
        try:
            warm_server(engine, cases)
            return measure("  (reference: sidecar with Go's defaults)", cases,
                           lambda c, e=engine: e.decide(c.input), rounds, server.pid).line()
        finally:
            engine.close()


def opa_server_timers(engine: OpaServerEngine, cases: list[TableCase]) -> str:
    """OPA's own timers for the table (one extra pass with ?metrics=true), in µs."""
    client = engine._client()  # the engine's opa-python-client (bench only)
    timers: dict[str, list[float]] = {}
    for case in cases * 3:
        response = client.query_rule(input_data=prune_nulls(case.input),
                                     package_path="gateway.authz", rule_name="decision",
                                     query_params={"metrics": "true"})
        for key, value in response.get("metrics", {}).items():
            timers.setdefault(key, []).append(value / 1e3)
    parts = []
    for key, label in (("timer_rego_input_parse_ns", "input parse"),
                       ("timer_rego_query_eval_ns", "evaluation"),
                       ("timer_server_handler_ns", "whole handler")):
        values = sorted(timers.get(key, [0.0]))
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        parts.append(f"{label} p50 {statistics.median(values):.0f} / p99 {p99:.0f}")
    return "  OPA server's own timers (µs): " + ", ".join(parts)


def engines(names: list[str], opa_binary: Path | None, cases: list[TableCase]
            ) -> Iterator[tuple[str, PolicyEngine, int | None]]:
    for name in names:
        if name == "embedded":
            engine: PolicyEngine = EmbeddedEngine(POLICY_DIR)
            yield "embedded (OPA-compiled Wasm under wasmtime)", engine, None
            engine.close()
        elif name == "opa":
            if opa_binary is None:
                print("  OPA binary not found (.tools/bin/opa, $OPA_BINARY or PATH): skipped")
                continue
            with OpaServerProcess(opa_binary, POLICY_DIR) as server:
                engine = OpaServerEngine(server.url, POLICY_DIR, timeout=2.0)
                warm_server(engine, cases)
                yield f"OPA server ({server.url}, cpu = client + server)", engine, server.pid
                engine.close()
        else:
            raise SystemExit(f"unknown engine {name!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20,
                        help="passes over the decision table per measurement")
    parser.add_argument("--engines", default="embedded,opa")
    parser.add_argument("--opa", default=None, help="path to the opa binary")
    parser.add_argument("--store", choices=("auto", "pg", "memory"), default="auto",
                        help="also measure with grants in PostgreSQL (pg; auto = when "
                             "GATEWAY_TEST_DATABASE_URL is set; bench/policy_store.py)")
    parser.add_argument("--warmup-seconds", type=float, default=policy_measure.WARMUP_SECONDS,
                        help="warm-up before each measurement (at least one pass)")
    parser.add_argument("--server-warmup-seconds", type=float,
                        default=policy_measure.SERVER_WARMUP_SECONDS,
                        help="decisions on each freshly started OPA server before measuring it")
    args = parser.parse_args()
    policy_measure.WARMUP_SECONDS = args.warmup_seconds
    policy_measure.SERVER_WARMUP_SECONDS = args.server_warmup_seconds

    cases = load_decision_table(POLICY_DIR / "decision_table.yaml")
    stores = {}
    for size in (10, 100_000):
        real = table_grants(cases)
        stores[size] = GrantStore.build(real + synthetic_grants(size - len(real)))
    print(f"decision table: {len(cases)} cases ({sum(c.allow for c in cases)} allow); "
          f"{args.rounds} rounds per measurement; policy dir {POLICY_DIR}")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} "
          "(other processes share these CPUs: compare runs at similar load); "
          f"speed probe {speed_probe()}; {cpu_idle()}")
    print(f"clients: opa-python-client {version('opa-python-client')} (decisions over "
          f"one kept-alive socket; requests {version('requests')} for the rest); "
          f"wasmtime {version('wasmtime')}; OPA sidecar with GOMAXPROCS="
          f"{os.environ.get('GOMAXPROCS', '1')} GOGC={os.environ.get('GOGC', '400')}")

    for store in stores.values():
        hits = sum(store.applicable(c.input) is not None for c in cases)
        print(f"\nstore of {store.size:,} grants ({hits} of {len(cases)} table lookups find one)")
        print(measure("grant lookup + input assembly only", cases,
                      lambda c, s=store: assemble(s, c), args.rounds).line())

    opa_binary = find_opa_binary(args.opa)
    admin_url = os.environ.get("GATEWAY_TEST_DATABASE_URL")
    if args.store == "pg" and not admin_url:
        raise SystemExit("--store pg needs GATEWAY_TEST_DATABASE_URL (PostgreSQL admin URL)")
    with contextlib.ExitStack() as stack:
        pg = (stack.enter_context(pg_stores(admin_url, [10, 100_000]))
              if admin_url and args.store != "memory" else [])
        for label, engine, pid in engines(args.engines.split(","), opa_binary, cases):
            engine_lines(label, engine, pid, cases, stores, pg, args.rounds, opa_binary)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}; speed probe {speed_probe()}")


def engine_lines(label: str, engine: PolicyEngine, pid: int | None, cases: list[TableCase],
                 stores: dict[int, GrantStore], pg: list[PgGrantStore], rounds: int,
                 opa_binary: Path | None) -> None:
    print(f"\n{label}  revision {engine.revision[:19]}...")
    wrong = [c.name for c in cases if c.mismatch(engine.decide(c.input))]
    if wrong:
        print(f"  WARNING: {len(wrong)} decisions differ from the table: {wrong[:5]}")
    print(measure("engine only (decide)", cases,
                  lambda c, e=engine: e.decide(c.input), rounds, pid).line())
    if isinstance(engine, OpaServerEngine):
        print(opa_server_timers(engine, cases))
        print(requests_client_line(engine, cases, rounds, pid))
        print(default_procs_line(opa_binary, cases, rounds))
    for size, store in stores.items():
        print(measure(f"lookup in {size:,} grants + assemble + decide", cases,
                      lambda c, e=engine, s=store: e.decide(assemble(s, c)),
                      rounds, pid).line())
    allows = [c for c in cases if c.allow]
    denies = [c for c in cases if not c.allow]
    print(measure("engine only, allows", allows,
                  lambda c, e=engine: e.decide(c.input), rounds, pid).line())
    print(measure("engine only, denies", denies,
                  lambda c, e=engine: e.decide(c.input), rounds, pid).line())
    floor_line("opa" if isinstance(engine, OpaServerEngine) else "embedded", cases,
               rounds, opa_binary, engine, pid)
    template = operator_template(cases)
    for pg_store in pg:
        wrong = check(pg_store, engine.decide, template)
        if wrong:
            print(f"  WARNING: {len(wrong)} PostgreSQL-store decisions are not the expected "
                  f"ones: {wrong[:3]}")
        requests = [m for m, _ in pg_store.requests()]
        print(measure(f"PostgreSQL store, {pg_store.size:,} grants: lookup only", requests,
                      lambda m, p=pg_store: p.lookup(m), rounds, pid).line())
        print(measure(f"PostgreSQL store, {pg_store.size:,} grants: lookup + decide", requests,
                      lambda m, p=pg_store, e=engine: e.decide(p.policy_input(template, m)),
                      rounds, pid).line())


if __name__ == "__main__":
    main()
