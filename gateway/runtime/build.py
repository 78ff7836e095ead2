"""`build_runtime(settings)`: every shared service of a process, built once, closed in reverse.

The API's lifespan, the sync worker, the scheduler, the command-line jobs and the benches all
open one `Runtime` here; no other module of `gateway/` builds the database, the policy engine,
the crypto service, the operation log writer or the enforcer (tests/test_runtime.py checks it).
Building fails closed: a key provider, policy engine or database that cannot be built makes
`build_runtime` raise after closing whatever was already built, never yield a partial runtime.

Services that belong to a domain (the mail store, the push verifier...) cannot be named here:
the domains sit above this layer. The caller passes `domain_services`, a function of the core
runtime returning them; they are kept by type and read back with `runtime.service(Kind)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from gateway.audit.writer import OperationLog
from gateway.crypto import CryptoService
from gateway.crypto.pepper import load_pepper
from gateway.crypto.pg import build_database
from gateway.kit.db import Database
from gateway.kit.observability import Metrics
from gateway.policy.contract import PolicyEngine
from gateway.policy.enforcement import Enforcer
from gateway.policy.engines import engine_from_settings
from gateway.settings import Settings

T = TypeVar("T")
DomainServices = Callable[["Runtime"], Iterable[object]]


@dataclass(frozen=True, eq=False)
class Runtime:
    """The process's shared services. Safe to share between threads and requests."""

    settings: Settings
    database: Database
    engine: PolicyEngine
    crypto: CryptoService
    oplog: OperationLog
    enforcer: Enforcer
    api_key_pepper: bytes
    metrics: Metrics
    services: Mapping[type[Any], object] = field(default_factory=dict)

    @property
    def google_mode(self) -> str:
        """Which Google the gateway talks to: `emulator`, `google` or `not_configured`."""
        if self.settings.uses_emulator:
            return "emulator"
        if self.settings.google_client_id:
            return "google"
        return "not_configured"

    def service(self, kind: type[T]) -> T:
        """The domain service of type `kind` built with this runtime; `LookupError` when the
        runtime was built without it (a wiring mistake, found on the first request)."""
        found = self.services.get(kind)
        if not isinstance(found, kind):
            raise LookupError(f"the runtime has no {kind.__name__}: pass it in domain_services")
        return found


def _no_domain_services(runtime: Runtime) -> Iterable[object]:
    return ()


@contextmanager
def build_runtime(settings: Settings, *, engine: PolicyEngine | None = None,
                  metrics: Metrics | None = None,
                  domain_services: DomainServices = _no_domain_services) -> Iterator[Runtime]:
    """Build every shared service once; on exit close them in the reverse order, each one
    even when closing another raised. A given `engine` (tests, benches) stays the caller's to
    close; so do the `metrics` (the app's middleware holds them from the factory on)."""
    with ExitStack() as stack:
        database = build_database(settings)
        stack.callback(database.dispose)
        if engine is None:
            engine = engine_from_settings(settings)
            stack.callback(engine.close)
        crypto = CryptoService.from_settings(settings)
        stack.callback(crypto.close)
        pepper = load_pepper(settings)
        oplog = OperationLog.from_settings(settings)
        metrics = metrics or Metrics()
        enforcer = Enforcer(engine, oplog, database, min_cohort=settings.analytics_min_cohort)
        enforcer.on_decision.append(metrics.record_decision)
        core = Runtime(settings=settings, database=database, engine=engine, crypto=crypto,
                       oplog=oplog, enforcer=enforcer, api_key_pepper=pepper, metrics=metrics)
        built = list(domain_services(core))
        by_type: dict[type[Any], object] = {}
        for service in built:
            if type(service) in by_type:
                raise ValueError(f"two {type(service).__name__} services in one runtime")
            by_type[type(service)] = service
        yield replace(core, services=by_type)
