"""Start a real OPA server on the policies, for tests and benchmarks.

    with run_opa_server(Path(".tools/bin/opa"), Path("policies")) as url:
        engine = OpaServerEngine(url, Path("policies"))

The server loads only the policy files (the non-test modules and data.json: what the revision
covers), or a signed bundle of them (`bundle=`, with `verification_key=`: what production runs,
bundle.py), listens on a free port of 127.0.0.1, and is killed on exit. It can run as production
does: `token=` turns on `--authentication=token --authorization=basic` with that token in OPA's
environment (policies/system/authz.rego reads it), `tls=` serves https (and, with a client CA,
requires a client certificate); `decision_log=` writes OPA's console decision log to a file;
`unix_socket=` listens on that Unix domain socket instead of TCP (`url` is then `unix:///path`),
`also_tcp=True` on both (one server, two transports, for bench/opa_socket_bench.py).
`OpaServerProcess` can also stop and restart on the same port, for fail-closed tests (stop it
mid-run: decisions become PolicyEngineUnavailable; start it again: they recover).

OPA runs with GOMAXPROCS=1 unless the environment sets GOMAXPROCS (the `gomaxprocs` argument):
the gateway asks one decision at a time per thread, and with two Go processors on this 2-core
machine OPA's idle processors spin looking for work around every request. Measured with
bench/policy_bench.py and the same client: OPA's own handler time p50 318 -> 209 µs, evaluation
202 -> 161 µs, server CPU per decision 0.64 -> 0.36 ms (docs/policy.md section 6). A sidecar
serving many gateway processes at once can be given more (`GOMAXPROCS=2` in its environment).

It also runs with GOGC=400 unless the environment sets GOGC (the `gogc` argument): a decision
allocates a few hundred small objects and OPA's live heap is small, so Go's default (collect
when the heap doubles) collects very often. Measured interleaved against GOGC=100 on the
decision table (docs/decisions/0002): server CPU per decision -9 to -11 %, p99 0.95-1.10 vs
1.17-1.25 ms, resident memory 61 vs 44 MiB.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from gateway.policy.engines.opa_binary import policy_file_args


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class OpaTls:
    """The OPA server's certificate and key; with `client_ca`, it requires client certificates
    signed by that CA (`--authentication=tls`) and lets in the one whose subject is
    `client_subject` (policies/system/authz.rego)."""

    cert: Path
    key: Path
    client_ca: Path | None = None
    client_subject: str | None = None


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _healthy(port: int, tls: bool = False, unix_socket: Path | None = None) -> bool:
    conn: http.client.HTTPConnection
    if unix_socket is not None:
        conn = _UnixHTTPConnection(str(unix_socket), timeout=0.5)
    elif tls:  # only "is it up?": the engine under test checks the certificate itself
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=0.5, context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except ssl.SSLError:
        return True  # it answered the handshake: a server requiring client certificates is up
    except OSError:
        return False
    finally:
        conn.close()


class OpaServerProcess:
    """One `opa run --server` process on 127.0.0.1:<port>, restartable on the same port."""

    def __init__(self, opa_binary: Path, policy_dir: Path | None, *, port: int | None = None,
                 startup_timeout: float = 15.0, gomaxprocs: int | None = 1,
                 gogc: int | None = 400, bundle: Path | None = None,
                 verification_key: Path | None = None, token: str | None = None,
                 tls: OpaTls | None = None, decision_log: Path | None = None,
                 unix_socket: Path | None = None, also_tcp: bool = False) -> None:
        self.opa_binary = Path(opa_binary)
        self.policy_dir = Path(policy_dir) if policy_dir is not None else None  # None: empty
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.gomaxprocs = gomaxprocs  # None: Go's default (one per CPU)
        self.gogc = gogc  # None: Go's default (100)
        self.bundle = bundle  # a bundle file instead of the policy directory's files
        self.verification_key = verification_key
        self.token = token
        self.tls = tls
        self.decision_log = decision_log
        self.unix_socket = Path(unix_socket).resolve() if unix_socket is not None else None
        self.also_tcp = also_tcp
        if self.unix_socket is not None and tls is not None:
            raise ValueError("OPA on a Unix socket serves plain HTTP here")
        self._proc: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """Where the gateway reaches it: `unix:///path` on a socket, else http(s)://."""
        if self.unix_socket is not None:
            return f"unix://{self.unix_socket}"
        return self.tcp_url

    @property
    def tcp_url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        addrs = []
        if self.unix_socket is not None:
            addrs += ["--addr", f"unix://{self.unix_socket}", "--unix-socket-perm", "700"]
        if self.unix_socket is None or self.also_tcp:
            addrs += ["--addr", f"127.0.0.1:{self.port}"]
        args = [str(self.opa_binary), "run", "--server", *addrs,
                "--log-level", "info" if self.decision_log else "error", "--skip-version-check",
                "--optimize-store-for-read-speed"]  # data.json is read on every decision
        if self.token is not None:
            args += ["--authentication=token", "--authorization=basic"]
        if self.tls is not None:
            args += ["--tls-cert-file", str(self.tls.cert),
                     "--tls-private-key-file", str(self.tls.key)]
            if self.tls.client_ca is not None:
                args += ["--tls-ca-cert-file", str(self.tls.client_ca),
                         "--authentication=tls", "--authorization=basic"]
        if self.decision_log is not None:
            args += ["--set", "decision_logs.console=true"]
        if self.verification_key is not None:
            args += ["--verification-key", str(self.verification_key)]
        if self.bundle is not None:
            args += ["--bundle", str(self.bundle)]
        elif self.policy_dir is not None:
            args += policy_file_args(self.policy_dir)
        return args

    def start(self) -> str:
        if self.running:
            return self.url
        env = dict(os.environ)
        if self.gomaxprocs is not None and "GOMAXPROCS" not in env:
            env["GOMAXPROCS"] = str(self.gomaxprocs)
        if self.gogc is not None and "GOGC" not in env:
            env["GOGC"] = str(self.gogc)
        env.pop("GATEWAY_POLICY_ENGINE_TOKEN", None)
        env.pop("GATEWAY_POLICY_ENGINE_CLIENT_SUBJECT", None)
        if self.token is not None:
            env["GATEWAY_POLICY_ENGINE_TOKEN"] = self.token
        if self.tls is not None and self.tls.client_subject:
            env["GATEWAY_POLICY_ENGINE_CLIENT_SUBJECT"] = self.tls.client_subject
        # OPA's output (its start-up errors go to stdout or stderr) goes to a file, never a pipe
        # nobody reads: the decision log file, or a temporary one read back on a failed start.
        self._close_output()
        output = (self.decision_log.open("ab") if self.decision_log is not None
                  else tempfile.TemporaryFile())  # noqa: SIM115 - outlives this method
        try:
            self._proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, env=env)
        except BaseException:
            output.close()
            raise
        if self.decision_log is not None:
            output.close()
        else:
            self._output = output
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                err = self._read_output()
                raise RuntimeError(f"OPA exited at start-up: {err.strip()[:2000]}")
            if _healthy(self.port, tls=self.tls is not None, unix_socket=self.unix_socket):
                return self.url
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"OPA did not answer /health on {self.url} "
                           f"within {self.startup_timeout}s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._close_output()

    def _read_output(self) -> str:
        """What OPA wrote (after it exited), and the output file closed."""
        if self.decision_log is not None:
            return self.decision_log.read_text(errors="replace")
        text = ""
        if self._output is not None:
            self._output.seek(0)
            text = self._output.read().decode(errors="replace")
        self._close_output()
        return text

    def _close_output(self) -> None:
        output, self._output = self._output, None
        if output is not None:
            output.close()

    def __enter__(self) -> OpaServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def run_opa_server(opa_binary: Path, policy_dir: Path) -> Iterator[str]:
    """Run OPA on the policy files of `policy_dir`; yields its URL; kills it on exit."""
    server = OpaServerProcess(opa_binary, policy_dir)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
