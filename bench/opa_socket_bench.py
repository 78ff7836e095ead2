"""OPA sidecar transport: a decision over a Unix domain socket against the same over loopback TCP.

    .venv/bin/python bench/opa_socket_bench.py [--rounds N] [--repeat R] [--opa PATH]

One OPA server listens on both (`opa run --server --addr unix://<dir>/opa.sock --addr
127.0.0.1:<port>`), with token authentication as deployed; two OPA-server engines, one per
address (`GATEWAY_POLICY_ENGINE_URL=unix:///...` and `http://127.0.0.1:...`), decide the
decision table's cases (every case, round-robin) in alternating passes (A B B A ...), so both see
the same server, the same warm caches and the same minutes of this VM. The same again on a
constant policy, where the transport is nearly all there is (the floor). Each repeat prints both
lines (rate, p50, p99, CPU of this thread + the OPA process per decision) and the ratios socket /
TCP; the summary gives the range of the ratios over the repeats. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.policy_measure import (
    Result,
    constant_policy_dir,
    cpu_idle,
    measure_interleaved,
    speed_probe,
    warm_server,
)
from gateway.policy.engines import OpaServerEngine
from gateway.policy.engines.opa_binary import find_opa_binary
from tests.support.decision_table import load_decision_table
from tests.support.opa_process import OpaServerProcess

ROOT = Path(__file__).resolve().parents[1]
POLICY_DIR = ROOT / "policies"
TOKEN = "bench-socket-token-7c2e91"


def p50(result: Result) -> float:
    return sorted(result.samples_ns)[len(result.samples_ns) // 2] / 1e6


def cpu(result: Result) -> float:
    return (result.cpu_ns + result.server_cpu_ns) / len(result.samples_ns) / 1e6


def mean(result: Result) -> float:
    return statistics.fmean(result.samples_ns) / 1e6


def compare(opa: Path, policy_dir: Path, work: Path, rounds: int, repeat: int, title: str
            ) -> list[tuple[float, float, float]]:
    """`repeat` interleaved measurements on one server; (p50, mean, cpu) ratios socket / TCP."""
    cases = load_decision_table(ROOT / "policies" / "decision_table.yaml")
    server = OpaServerProcess(opa, policy_dir, token=TOKEN, unix_socket=work / "opa.sock",
                              also_tcp=True)
    ratios = []
    with server:
        unix = OpaServerEngine(server.url, policy_dir, token=TOKEN)
        tcp = OpaServerEngine(server.tcp_url, policy_dir, token=TOKEN)
        try:
            unix.ping()
            tcp.ping()
            warm_server(unix, cases)
            warm_server(tcp, cases)
            print(f"{title}: one OPA server, {server.url} and {server.tcp_url}")
            for n in range(1, repeat + 1):
                a, b = measure_interleaved(
                    ("unix socket", "loopback TCP"),
                    (lambda c: unix.decide(c.input), lambda c: tcp.decide(c.input)),
                    (server.pid, server.pid), cases, rounds)
                ratio = (p50(a) / p50(b), mean(a) / mean(b), cpu(a) / cpu(b))
                ratios.append(ratio)
                print(f" repeat {n}")
                print(a.line())
                print(b.line())
                print(f"  ratio socket/TCP: p50 {ratio[0]:.3f}  mean {ratio[1]:.3f}  "
                      f"cpu {ratio[2]:.3f}")
        finally:
            unix.close()
            tcp.close()
    return ratios


def summary(title: str, ratios: list[tuple[float, float, float]]) -> str:
    def span(i: int) -> str:
        values = [r[i] for r in ratios]
        return f"{min(values):.3f}-{max(values):.3f} (median {statistics.median(values):.3f})"
    return f"  {title:<16} p50 {span(0)}  mean {span(1)}  cpu {span(2)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10,
                        help="passes over the decision table per line and repeat")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--opa", default=None, help="OPA binary (default: .tools/bin/opa)")
    args = parser.parse_args()
    opa = find_opa_binary(args.opa)
    if opa is None:
        raise SystemExit("no OPA binary: source scripts/lib.sh && ensure_opa")
    print(f"machine: speed probe {speed_probe()}, {cpu_idle()}")
    # A short directory: a Unix socket's path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="opa-sock-", dir="/tmp") as tmp:
        work = Path(tmp)
        policy = compare(opa, POLICY_DIR, work, args.rounds, args.repeat, "the policy")
        constant_dir = work / "constant"
        # The constant policy with the sidecar's authorization policy (token auth as deployed).
        shutil.copytree(POLICY_DIR / "system", constant_dir / "system")
        floor = compare(opa, constant_policy_dir(constant_dir), work, args.rounds, args.repeat,
                        "a constant policy (the transport's floor)")
    print("summary, socket / TCP over the repeats (below 1: the socket is faster):")
    print(summary("the policy", policy))
    print(summary("constant policy", floor))


if __name__ == "__main__":
    main()
