"""Mail read path over real HTTP: p50/p99 latency and requests/s, guarded vs. unguarded.

    source scripts/lib.sh && ensure_postgres_running && ensure_opa
    .venv/bin/python bench/mail_read_bench.py [--seconds 6] [--rounds 3] [--workers 2]
        [--clients 1,10,50] [--attribute N] [--floors asgi,fastapi|none]

What runs, all on this machine:
- PostgreSQL (GATEWAY_TEST_DATABASE_URL is the admin URL; a fresh database is created, migrated
  and dropped), a real `opa run --server` with policies/, and the gateway itself in a subprocess,
  run the way `gmail-gateway serve --workers 2` runs it (gateway.kit.serving; two workers, one
  per core of this machine), JSON access logs at INFO to a file, exactly
  `create_app(Settings())` from the environment plus one bench-only router (below);
- a seeded tenant with a CRM service key and a mailbox holding 200 messages, each with a 50 KB
  text body, sealed by the real store;
- the load generator: this process, one asyncio task per client, each a kept-alive HTTP/1.1
  connection sending GETs back to back (a minimal hand-written client so that the generator
  costs little CPU next to the server it measures; the clients rotate over the 200 messages).

Four reads, each at 1, 10 and 50 concurrent clients, interleaved:
- `metadata`  GET /v1/mailboxes/{m}/messages/{id}          (policy + log + decrypt the summary)
- `content`   GET /v1/mailboxes/{m}/messages/{id}/content  (policy + log + decrypt summary+body)
- and the same two rows read through `/bench-only/unguarded/...`: the same authentication
  (API key, cached the same way), purpose header, request transaction, the same one-query
  mailbox+message load with the same columns, and a JSON response of the same shape and size
  (ciphertext, base64, where the plaintext would be), but no Enforcer (no policy call, no
  operation-log append) and no decryption. That router is defined in bench/mail_read_apps.py
  and included only by `bench_app()`, the factory this benchmark gives uvicorn; the production
  factory (`gateway.app:app_from_env`) never sees it.
- floors (`--floors`, both by default), at each client count: `asgi`, a bare ASGI callable in
  front of the app (uvicorn + h11 + this generator, nothing else), and `fastapi`, an async
  endpoint returning `{"ok": true}` through the production app's middleware and routing. They
  say what this machine's HTTP stack costs before any work is done.

Each configuration runs `--rounds` times (which path goes first alternates) and the summary
takes medians. Beside latency and requests/s, each run prints the CPU time per request of the
gateway workers, of the PostgreSQL backends serving the benchmark's database and of the OPA
server (from /proc), and of the generator: on a shared machine latency moves with everyone
else's load, CPU per request much less, and at saturation throughput is cores / CPU per request.
`--attribute N` first times each step of the guarded read in-process (policy decision,
operation-log append (own commit, for these reads), the mailbox+message load, commit,
decryption, the store's view), N requests per view.

Prints numbers and the guarded/unguarded ratios; asserts nothing. Targets: at 10
clients p50 <= 5 ms and p99 <= 25 ms, guarded/unguarded ratio <= 2. Two cores are shared by the
generator, the gateway workers, PostgreSQL and OPA: read the numbers as this machine's.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.mail_read_apps import FLOOR_PATHS, bench_fastapi_app
from bench.mail_read_load import CpuSplit, Result, measure, run_load
from bench.mail_read_world import (
    BODY_BYTES,
    MESSAGES,
    PEPPER,
    ROOT,
    World,
    fresh_database,
    gateway_server,
    seed,
    vacuum_analyze,
)
from gateway.mail.store.repository import MessageStore
from gateway.runtime import runtime_of

BENCH_DIR = Path(__file__).resolve().parent


# --- where the time goes (in-process, sequential) -----------------------------------------------

def attribute(env: dict[str, str], world: World, requests_per_path: int) -> None:
    """Wall and CPU time per request of each step of the guarded read, measured by wrapping the
    steps of the real app in-process (TestClient, one request at a time, so there is no queueing
    in the numbers; CPU is this process's thread time, which the other processes' load disturbs
    much less than wall time). The OPA server's and PostgreSQL's own CPU are not in these: see
    the CPU columns of the HTTP runs."""
    from collections import defaultdict
    from collections.abc import Callable

    from fastapi.testclient import TestClient
    from sqlalchemy.orm import Session

    os.environ.update(env)
    app = bench_fastapi_app()
    # The access lines are still formatted and written (their cost is part of a request), to
    # /dev/null rather than over this report.
    import logging

    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the run
    stats: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                stats[name][0] += time.perf_counter() - wall
                stats[name][1] += time.thread_time() - cpu
        return wrapper

    headers = {"Authorization": f"Bearer {world.api_key}", "Gateway-Purpose": "user_facing"}
    original_commit = Session.commit
    with TestClient(app) as client:
        state = runtime_of(app)
        state.engine.decide = timed("policy decision (OPA HTTP round trip)", state.engine.decide)
        oplog = state.enforcer.oplog
        oplog.append = timed("operation-log append (INSERT)", oplog.append)
        # Allows of store reads commit on their own, through the group commit (enforcement.py).
        oplog.append_committed = timed("operation-log append_committed (own commit)",
                                       oplog.append_committed)
        state.crypto.open_content = timed("decrypt (keyring + AES-GCM)",  # type: ignore[method-assign]
                                          state.crypto.open_content)
        store = state.service(MessageStore)
        store.metadata_view = timed("store view incl. decrypt", store.metadata_view)
        store.content_view = timed("store view incl. decrypt", store.content_view)
        Session.commit = timed("commit (incl. log chaining)", original_commit)  # type: ignore
        # The one-query load of mailbox and message, on both paths (the same function).
        import gateway.mail.read.resolvers as resolvers

        original_load = resolvers.load_message
        resolvers.load_message = globals()["load_message"] = timed(  # type: ignore[assignment]
            "load mailbox+message (one query)", original_load)
        try:
            for label, prefix in (("guarded", f"/v1/mailboxes/{world.mailbox_id}/messages/"),
                                  ("unguarded", f"/bench-only/unguarded/mailboxes/"
                                                f"{world.mailbox_id}/messages/")):
                for view, suffix in (("metadata", ""), ("content", "/content")):
                    paths = [prefix + g + suffix for g in world.gmail_ids]
                    for path in paths[:20]:  # warm-up: connections, key cache, plans
                        assert client.get(path, headers=headers).status_code == 200
                    stats.clear()
                    wall, cpu = time.perf_counter(), time.process_time()
                    for n in range(requests_per_path):
                        client.get(paths[n % len(paths)], headers=headers)
                    total_wall = (time.perf_counter() - wall) * 1000 / requests_per_path
                    total_cpu = (time.process_time() - cpu) * 1000 / requests_per_path
                    print(f"\n{view} {label}: {total_wall:.2f} ms wall, {total_cpu:.2f} ms CPU "
                          f"per request (whole process, incl. TestClient)")
                    for name, (w, c) in sorted(stats.items(), key=lambda kv: -kv[1][0]):
                        print(f"  {name:40} {w * 1000 / requests_per_path:7.3f} ms wall "
                              f"{c * 1000 / requests_per_path:7.3f} ms CPU")
        finally:
            Session.commit = original_commit  # type: ignore[method-assign]
            resolvers.load_message = globals()["load_message"] = original_load


# --- the run ------------------------------------------------------------------------------------


def summarise(results: dict[tuple[str, str, int], list[tuple[Result, CpuSplit]]],
              views: list[str], clients: list[int], rounds: int) -> None:
    def med(view: str, name: str, n: int) -> tuple[float, float, float, float]:
        runs = results[(view, name, n)]
        return (statistics.median(r.pct(0.5) for r, _ in runs),
                statistics.median(r.pct(0.99) for r, _ in runs),
                statistics.median(r.rate for r, _ in runs),
                statistics.median(c.gateway + c.postgres + c.opa for _, c in runs))

    print(f"\nmedians over {rounds} round(s); ratio = guarded / unguarded "
          "(latency at p50 and p99, CPU per request of gateway+PostgreSQL+OPA; "
          "throughput unguarded / guarded):")
    print(f"  {'view':9} {'clients':>7} {'guarded p50/p99 ms':>19} {'req/s':>6} "
          f"{'unguarded p50/p99':>18} {'req/s':>6} {'p50 x':>6} {'p99 x':>6} {'CPU x':>6} "
          f"{'req/s x':>7}")
    for view in views:
        for n in clients:
            g, u = med(view, "guarded", n), med(view, "unguarded", n)
            print(f"  {view:9} {n:>7} {g[0]:9.2f}/{g[1]:<9.2f} {g[2]:6.0f} "
                  f"{u[0]:8.2f}/{u[1]:<9.2f} {u[2]:6.0f} {g[0] / u[0]:6.2f} {g[1] / u[1]:6.2f} "
                  f"{g[3] / u[3]:6.2f} {u[2] / g[2]:7.2f}")
    if 10 in clients:
        print("\ntargets at 10 clients: p50 <= 5 ms, p99 <= 25 ms, guarded/unguarded <= 2")
        for view in views:
            g, u = med(view, "guarded", 10), med(view, "unguarded", 10)
            verdicts = [f"p50 {g[0]:.2f} ms {'met' if g[0] <= 5 else 'MISSED'}",
                        f"p99 {g[1]:.2f} ms {'met' if g[1] <= 25 else 'MISSED'}",
                        f"p50 ratio {g[0] / u[0]:.2f} {'met' if g[0] / u[0] <= 2 else 'MISSED'}",
                        f"CPU ratio {g[3] / u[3]:.2f} {'met' if g[3] / u[3] <= 2 else 'MISSED'}"]
            print(f"  {view:9} " + "; ".join(verdicts))


def summarise_floors(results: dict[tuple[str, str, int], list[tuple[Result, CpuSplit]]],
                     floors: list[str], clients: list[int]) -> None:
    if not floors:
        return
    print("\nfloors (no work; medians): p50/p99 ms, req/s, gateway CPU ms per request")
    for floor in floors:
        for n in clients:
            runs = results[("floor", floor, n)]
            print(f"  {floor:9} {n:>7} {statistics.median(r.pct(0.5) for r, _ in runs):9.2f}/"
                  f"{statistics.median(r.pct(0.99) for r, _ in runs):<9.2f} "
                  f"{statistics.median(r.rate for r, _ in runs):6.0f} "
                  f"{statistics.median(c.gateway for _, c in runs):6.2f}")


def server_loop() -> str:
    """What uvicorn's defaults (--loop auto --http auto) pick in this environment."""
    return "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"


def server_http() -> str:
    return "httptools" if importlib.util.find_spec("httptools") else "h11"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--clients", default="1,10,50")
    parser.add_argument("--views", default="metadata,content")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds; the summary takes medians")
    parser.add_argument("--opa", help="path to the opa binary (default: .tools/bin/opa)")
    parser.add_argument("--attribute", type=int, default=0, metavar="N",
                        help="also time each step of the guarded read in-process, N requests")
    parser.add_argument("--floors", default="asgi,fastapi",
                        help="floor measurements (asgi, fastapi) at each client count, or 'none'")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        # The gateway's own way of running uvicorn (`gmail-gateway serve`), with this factory.
        from gateway.kit.logs import configure_logging
        from gateway.kit.serving import serve

        configure_logging("INFO")  # the supervisor's own lines (a worker restarted) in the log
        serve("bench.mail_read_apps:bench_app", host="127.0.0.1", port=args.serve,
              workers=args.workers, log_config=None, access_log=False)
        return 0

    from gateway.policy.engines.opa_binary import find_opa_binary
    from tests.support.opa_process import OpaServerProcess

    admin_url = os.environ.get("GATEWAY_TEST_DATABASE_URL")
    if not admin_url:
        print("set GATEWAY_TEST_DATABASE_URL (source scripts/lib.sh && ensure_postgres_running)")
        return 2
    opa = find_opa_binary(args.opa) or ROOT / ".tools" / "bin" / "opa"
    if not opa.exists():
        print("no OPA binary: source scripts/lib.sh && ensure_opa")
        return 2
    clients = [int(c) for c in args.clients.split(",")]
    views = args.views.split(",")
    floors = [] if args.floors == "none" else args.floors.split(",")
    print(f"CPUs: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}; "
          f"{args.workers} uvicorn workers; {args.seconds:.0f} s per run after "
          f"{args.warmup:.0f} s warm-up; uvicorn loop={server_loop()}, http={server_http()}")

    with tempfile.TemporaryDirectory(prefix="mail-read-bench-") as tmp, \
            fresh_database(admin_url) as url, \
            OpaServerProcess(opa, ROOT / "policies") as opa_server:
        opa_url = opa_server.url
        assert opa_server.pid is not None
        tmp_path = Path(tmp)
        env = {"GATEWAY_ENVIRONMENT": "test", "GATEWAY_DATABASE_URL": url,
               "GATEWAY_POLICY_ENGINE_URL": opa_url, "GATEWAY_POLICY_DIR": str(ROOT / "policies"),
               "GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_KEY_FILE": str(tmp_path / "kek.json"),
               "GATEWAY_API_KEY_PEPPER": PEPPER, "GATEWAY_LOG_LEVEL": "INFO"}
        started = time.perf_counter()
        world = seed(url, env)
        vacuum_analyze(url)  # so that autovacuum does not run into the first measurements
        print(f"seeded {MESSAGES} messages with {BODY_BYTES // 1000} KB bodies in "
              f"{time.perf_counter() - started:.1f} s")
        headers = {"Authorization": f"Bearer {world.api_key}", "Gateway-Purpose": "user_facing",
                   "User-Agent": "mail-read-bench"}
        if args.attribute:
            print("\nwhere the time goes (in-process, one request at a time):")
            attribute(env, world, args.attribute)
            print()
        base = f"/v1/mailboxes/{world.mailbox_id}/messages/"
        bypass = f"/bench-only/unguarded/mailboxes/{world.mailbox_id}/messages/"
        suffix = {"metadata": "", "content": "/content"}
        results: dict[tuple[str, str, int], list[tuple[Result, CpuSplit]]] = {}
        log_file = tmp_path / "gateway.log"
        with gateway_server(env, args.workers, log_file) as (port, server_pid):
            # One request of each kind first, so that a wiring problem is an error, not a number.
            for prefix in (base, bypass):
                check = run_load(port, [prefix + world.gmail_ids[0] + "/content"], headers, 1,
                                 0.3, 0.0)
                if check.errors or not check.latencies:
                    print(f"{prefix}: requests fail; see the gateway log:")
                    print(log_file.read_text()[-3000:])
                    return 1
            print()
            print(f"{'':43}{'':16}CPU ms per request")
            print(f"{'round':5} {'view':9} {'clients':>7} {'path':10} {'p50 ms':>8} "
                  f"{'p99 ms':>8} {'req/s':>8} {'errors':>6} {'gateway':>8} {'pg':>6} "
                  f"{'opa':>6} {'gen':>6}")
            for round_no in range(1, args.rounds + 1):
                # Alternate which path goes first, so that drift in the machine's load does
                # not always favour the same one.
                order = [("guarded", base), ("unguarded", bypass)]
                if round_no % 2 == 0:
                    order.reverse()
                for n in clients:
                    for floor in floors:
                        res, split = measure(port, [FLOOR_PATHS[floor]], headers, n, args,
                                             server_pid, admin_url, url, opa_server.pid)
                        results.setdefault(("floor", floor, n), []).append((res, split))
                        print(f"{round_no:5} {'floor':9} {n:>7} {floor:10} {res.pct(0.5):8.2f} "
                              f"{res.pct(0.99):8.2f} {res.rate:8.0f} {res.errors:>6} "
                              f"{split.gateway:8.2f} {split.postgres:6.2f} "
                              f"{split.opa:6.2f} {split.generator:6.2f}", flush=True)
                    for view in views:
                        for name, prefix in order:
                            paths = [prefix + g + suffix[view] for g in world.gmail_ids]
                            res, split = measure(port, paths, headers, n, args, server_pid,
                                                 admin_url, url, opa_server.pid)
                            results.setdefault((view, name, n), []).append((res, split))
                            print(f"{round_no:5} {view:9} {n:>7} {name:10} {res.pct(0.5):8.2f} "
                                  f"{res.pct(0.99):8.2f} {res.rate:8.0f} {res.errors:>6} "
                                  f"{split.gateway:8.2f} {split.postgres:6.2f} "
                                  f"{split.opa:6.2f} {split.generator:6.2f}", flush=True)
        summarise(results, views, clients, args.rounds)
        summarise_floors(results, floors, clients)
    return 0


if __name__ == "__main__":
    sys.exit(main())
