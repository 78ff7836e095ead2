"""The embedded engine: the same Rego files, compiled by OPA to WebAssembly, run in-process.

The policy files are compiled by OPA's own compiler (`opa build -t wasm`, wasm_compile.py: the
committed `policies/compiled/decision.wasm`, or a fresh compile when the files changed) and run
by wasmtime through OPA's Wasm ABI (1.2+): per decision, the input's JSON is written into the
module's memory above the data document and one `opa_eval` call returns the result's JSON.
The same compiler as the OPA server means the same semantics (built-in errors, null vs absent,
string escaping); the decision table still runs through both engines (tests/policy).

A decision takes about 0.13 ms in all (bench/policy_bench.py; docs/decisions/0001).

- The data document (policies' data.json files, read from the policy directory, part of the
  revision) is parsed into each instance once; the heap above it is reset by every `opa_eval`.
- A wasmtime `Store` must not be shared between threads: each thread gets its own store and
  instance of the one compiled module.
- Only JSON goes in (`json.dumps(..., allow_nan=False)`: a datetime, a set or a NaN raise);
  null members are dropped (`prune_nulls`), as for the OPA server.
- The module must need no host built-ins (its `builtins` export is checked at start-up): every
  built-in the policy uses is implemented inside OPA's Wasm runtime.
- A trap (abort, out of memory, a host call), any error -> `PolicyEngineUnavailable` (503), and
  that thread's instance is discarded.
- Every answer must carry the revision computed from the policy files (`revision.rego` compiled
  into the module): an undefined or malformed answer, or a module compiled from other policies
  (a replaced `decision.wasm`), is `PolicyRevisionMismatch` on every call (503).
"""

from __future__ import annotations

import ctypes
import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wasmtime

from gateway.policy.contract import Decision, PolicyEngineUnavailable
from gateway.policy.engines.rego_input import prune_nulls
from gateway.policy.engines.revision import checked_revision, load_policy_files, merged_data
from gateway.policy.engines.wasm_compile import ENTRYPOINT, load_compiled

log = logging.getLogger(__name__)

_PAGE = 65536
_HEAP_MARGIN = 4 * _PAGE  # room for the evaluation's own allocations before it grows memory


class _Abort(Exception):
    pass


@dataclass
class _Instance:
    """One thread's store + instance, with the data document already parsed into it."""

    store: wasmtime.Store
    memory: wasmtime.Memory
    opa_eval: wasmtime.Func
    entrypoint: int
    data_addr: int
    heap_base: int


def _host_functions(store: wasmtime.Store, module: wasmtime.Module,
                    memory: wasmtime.Memory) -> list[Any]:
    """The module's imports, in order: env.memory, opa_abort, opa_println, opa_builtinN."""

    def abort(_addr: int) -> None:
        raise _Abort("the policy module aborted")

    def no_builtin(*_args: int) -> int:
        raise _Abort("the policy module called a host built-in")

    i32 = wasmtime.ValType.i32()
    imports: list[Any] = []
    for item in module.imports:
        name = item.name or ""
        if name == "memory":
            imports.append(memory)
        elif name == "opa_abort":
            imports.append(wasmtime.Func(store, wasmtime.FuncType([i32], []), abort))
        elif name == "opa_println":
            imports.append(wasmtime.Func(store, wasmtime.FuncType([i32], []), lambda _a: None))
        elif name.startswith("opa_builtin") and name[-1].isdigit():
            arity = int(name[-1])
            imports.append(wasmtime.Func(
                store, wasmtime.FuncType([i32] * (arity + 2), [i32]), no_builtin))
        else:
            raise PolicyEngineUnavailable(f"the policy module imports {item.module}.{name}")
    return imports


def _c_string(memory: wasmtime.Memory, store: wasmtime.Store, addr: int) -> bytes:
    if not 0 < addr < memory.data_len(store):
        raise PolicyEngineUnavailable("the policy module returned an address outside its memory")
    base = ctypes.addressof(memory.data_ptr(store).contents)
    return ctypes.string_at(base + addr)


def _dump(instance: _Instance, exports: Any, value_addr: int) -> Any:
    text = _c_string(instance.memory, instance.store,
                     exports["opa_value_dump"](instance.store, value_addr))
    return json.loads(text)


class EmbeddedEngine:
    """In-process policy engine (OPA-compiled Wasm under wasmtime). Safe from any thread."""

    name = "embedded"

    def __init__(self, policy_dir: Path) -> None:
        self._policy_dir = Path(policy_dir)
        files = load_policy_files(self._policy_dir)
        self._revision = checked_revision(files, self._policy_dir)
        self._data = json.dumps(merged_data(files), separators=(",", ":")).encode("utf-8")
        module_bytes = load_compiled(self._policy_dir, self._revision)
        self._engine = wasmtime.Engine()
        try:
            self._module = wasmtime.Module(self._engine, module_bytes)
        except wasmtime.WasmtimeError as exc:
            raise PolicyEngineUnavailable(
                f"the compiled policy is not a valid module: {exc}") from exc
        self._local = threading.local()
        self._closed = False
        self._instance()  # fail at start-up, not at the first request
        log.info("embedded policy engine ready", extra={"policy_revision": self._revision})

    @property
    def revision(self) -> str:
        return self._revision

    def _new_instance(self) -> _Instance:
        store = wasmtime.Store(self._engine)
        memory_import = next(i for i in self._module.imports if i.name == "memory")
        memory = wasmtime.Memory(store, memory_import.type)  # type: ignore[arg-type]
        instance = wasmtime.Instance(store, self._module,
                                     _host_functions(store, self._module, memory))
        exports = instance.exports(store)
        abi = (exports["opa_wasm_abi_version"].value(store),  # type: ignore[union-attr]
               exports["opa_wasm_abi_minor_version"].value(store))  # type: ignore[union-attr]
        if abi[0] != 1 or abi[1] < 2:
            raise PolicyEngineUnavailable(f"policy module ABI {abi}: 1.2 or later is needed")
        partial = _Instance(store, memory, exports["opa_eval"], 0, 0, 0)  # type: ignore[arg-type]
        builtins = _dump(partial, exports, exports["builtins"](store))  # type: ignore[operator]
        if builtins:
            raise PolicyEngineUnavailable(
                f"the policy needs host built-ins the embedded engine lacks: {sorted(builtins)}")
        entrypoints = _dump(partial, exports, exports["entrypoints"](store))  # type: ignore[operator]
        if ENTRYPOINT not in entrypoints:
            raise PolicyEngineUnavailable(f"the policy module has no entrypoint {ENTRYPOINT}")
        addr = exports["opa_malloc"](store, len(self._data))  # type: ignore[operator]
        memory.write(store, self._data, addr)
        data_addr = exports["opa_json_parse"](store, addr, len(self._data))  # type: ignore[operator]
        if not data_addr:
            raise PolicyEngineUnavailable("the policy data did not parse inside the module")
        heap_base = exports["opa_heap_ptr_get"](store)  # type: ignore[operator]
        return _Instance(store, memory, exports["opa_eval"],  # type: ignore[arg-type]
                         int(entrypoints[ENTRYPOINT]), int(data_addr), int(heap_base))

    def _instance(self) -> _Instance:
        instance: _Instance | None = getattr(self._local, "instance", None)
        if instance is None:
            instance = self._local.instance = self._new_instance()
        return instance

    def evaluate(self, policy_input: Mapping[str, Any]) -> Any:
        """The raw value of data.gateway.authz.decision (None when undefined)."""
        if self._closed:
            raise PolicyEngineUnavailable("the embedded policy engine is closed")
        try:
            # Only JSON values get through (a datetime, a set, a NaN raise here).
            raw = json.dumps(prune_nulls(dict(policy_input)), separators=(",", ":"),
                             allow_nan=False).encode("utf-8")
            instance = self._instance()
            store, memory = instance.store, instance.memory
            input_addr = instance.heap_base
            needed = input_addr + len(raw) + _HEAP_MARGIN
            if memory.data_len(store) < needed:
                memory.grow(store, (needed - memory.data_len(store)) // _PAGE + 1)
            base = ctypes.addressof(memory.data_ptr(store).contents)
            ctypes.memmove(base + input_addr, raw, len(raw))
            # opa_eval(reserved, entrypoint, data, input, input_len, heap_ptr, format=JSON)
            result_addr = instance.opa_eval(store, 0, instance.entrypoint, instance.data_addr,
                                            input_addr, len(raw), input_addr + len(raw), 0)
            results = json.loads(_c_string(memory, store, result_addr))
        except PolicyEngineUnavailable:
            self._local.instance = None
            raise
        except Exception as exc:  # a trap, an abort, a value that is not JSON
            self._local.instance = None
            raise PolicyEngineUnavailable(f"policy evaluation failed: {exc}") from exc
        if not isinstance(results, list) or not results or not isinstance(results[0], dict):
            return None
        return results[0].get("result")

    def decide(self, policy_input: Mapping[str, Any]) -> Decision:
        return Decision.from_result(self.evaluate(policy_input), revision=self._revision,
                                    engine=self.name)

    def ping(self) -> None:
        """Evaluate once: an empty input must come back as a deny."""
        decision = self.decide({})
        if decision.allow:
            raise PolicyEngineUnavailable("the policy allowed an empty input")

    def close(self) -> None:
        self._closed = True
