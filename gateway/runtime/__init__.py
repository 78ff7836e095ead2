"""The process's shared services (`Runtime`), how they are built (`build_runtime`) and how a
request reads them (`runtime_of`). Below the domains and the guard, above the services it
assembles (crypto, policy, audit, kit)."""

from gateway.runtime.build import DomainServices, Runtime, build_runtime
from gateway.runtime.request import install_runtime, runtime_of, session_dependency

__all__ = ["DomainServices", "Runtime", "build_runtime", "install_runtime", "runtime_of",
           "session_dependency"]
