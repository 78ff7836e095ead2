"""One runtime: `build_runtime` builds each shared service once, closes every one of them on
exit (even when closing one raises), refuses to yield a partial runtime, and is the only place
in `gateway/` that builds the services the API, the worker and the scheduler run on."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from gateway.crypto import CryptoService
from gateway.crypto.errors import KeyUnavailable
from gateway.mail.store.repository import MessageStore
from gateway.runtime import Runtime, build_runtime
from gateway.settings import Settings
from gateway.sync.steps import SyncServices

ROOT = Path(__file__).resolve().parents[1]
RUNTIME_MODULE = "gateway/runtime/build.py"
# Calls that build a shared service. Within gateway/ only the runtime module makes them.
BUILDERS = frozenset({"build_database", "engine_from_settings", "CryptoService.from_settings",
                      "OperationLog.from_settings", "Enforcer", "load_pepper"})
# Where else a builder may be called, and why.
ALLOWED = {
    # The key commands (rotate, re-wrap) live in the crypto layer, below the runtime: they
    # open the crypto service alone.
    ("gateway/crypto/cli.py", "CryptoService.from_settings"),
    # Issuing an API key (`accounts key create`, the demo's seed) needs the pepper and the
    # database only, and works before the keys or the policy engine are set up.
    ("gateway/accounts/cli.py", "load_pepper"),
    ("gateway/demo.py", "load_pepper"),
}


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return None


def builder_calls(source: str) -> list[str]:
    return [name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)
            and (name := _called_name(node)) in BUILDERS]


def _gateway_modules() -> Iterator[tuple[str, str]]:
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")


def test_only_the_runtime_module_builds_shared_services() -> None:
    stray = [(where, name) for where, source in _gateway_modules() if where != RUNTIME_MODULE
             for name in builder_calls(source) if (where, name) not in ALLOWED]
    assert stray == []


def test_the_check_sees_a_builder_call() -> None:
    runtime_source = (ROOT / RUNTIME_MODULE).read_text(encoding="utf-8")
    assert set(builder_calls(runtime_source)) == BUILDERS
    assert builder_calls("def f(settings):\n    return build_database(settings)\n") == [
        "build_database"]


@pytest.mark.parametrize("entry_point", ["gateway/app.py", "gateway/sync/cli.py",
                                         "gateway/webhooks/cli.py"])
def test_the_entry_points_open_a_runtime(entry_point: str) -> None:
    """The API's lifespan, `gmail-gateway worker` (and through its `open_services` the scheduler
    and `push renew-watches`) and `webhooks deliver` call `build_runtime`."""
    tree = ast.parse((ROOT / entry_point).read_text(encoding="utf-8"))
    assert any(isinstance(node, ast.Call) and _called_name(node) == "build_runtime"
               for node in ast.walk(tree))


@pytest.fixture
def disposed() -> Iterator[list[Engine]]:
    """The SQLAlchemy engines disposed while the test runs."""
    seen: list[Engine] = []

    def note(engine: Engine) -> None:
        seen.append(engine)

    event.listen(Engine, "engine_disposed", note)
    try:
        yield seen
    finally:
        event.remove(Engine, "engine_disposed", note)


def test_each_service_is_built_once_and_shared(settings: Settings) -> None:
    made: list[Runtime] = []

    def domain(core: Runtime) -> list[object]:
        made.append(core)
        return [MessageStore(core.crypto)]

    with build_runtime(settings, domain_services=domain) as runtime:
        assert len(made) == 1
        assert runtime.enforcer.engine is runtime.engine
        assert runtime.enforcer.oplog is runtime.oplog
        assert runtime.enforcer.database is runtime.database
        store = runtime.service(MessageStore)
        assert store.crypto is runtime.crypto
        services = SyncServices.from_runtime(runtime)
        assert (services.database, services.crypto, services.enforcer, services.store) == (
            runtime.database, runtime.crypto, runtime.enforcer, store)
        with pytest.raises(LookupError):
            runtime.service(SyncServices)


def test_every_service_is_closed_even_when_one_close_raises(
        settings: Settings, disposed: list[Engine], monkeypatch: pytest.MonkeyPatch) -> None:
    """The crypto service is closed first (the reverse of building); its close failing still
    closes the policy engine and disposes of the database, and the failure is raised."""
    closes = CryptoService.close

    def close_then_fail(self: CryptoService) -> None:
        closes(self)
        raise OSError("the key provider's connection did not close")

    monkeypatch.setattr(CryptoService, "close", close_then_fail)
    with pytest.raises(OSError, match="did not close"), build_runtime(settings) as runtime:
        runtime.database.ping()
        engine = runtime.engine
    assert runtime.database.engine in disposed
    assert getattr(engine, "_closed", None) is True


def test_a_given_policy_engine_stays_the_callers(settings: Settings) -> None:
    from gateway.policy.engines import engine_from_settings

    engine = engine_from_settings(settings)
    try:
        with build_runtime(settings, engine=engine) as runtime:
            assert runtime.engine is engine
        engine.ping()  # still open
    finally:
        engine.close()


def test_an_unreadable_key_file_fails_the_build_and_closes_what_was_built(
        settings: Settings, tmp_path: Path, disposed: list[Engine]) -> None:
    key_file = tmp_path / "kek.json"
    key_file.write_text("not a key file")
    key_file.chmod(0o600)
    broken = settings.model_copy(update={"key_file": key_file, "data_dir": tmp_path})
    with pytest.raises(KeyUnavailable), build_runtime(broken):
        pytest.fail("a runtime without its keys was yielded")
    assert len(disposed) == 1


def test_a_policy_engine_that_cannot_start_fails_the_build(
        settings: Settings, tmp_path: Path, disposed: list[Engine]) -> None:
    """The embedded engine on a directory without a policy: no runtime, the database closed."""
    broken = settings.model_copy(update={"policy_engine_url": None, "policy_dir": tmp_path})
    with pytest.raises(FileNotFoundError), build_runtime(broken):
        pytest.fail("a runtime without its policy engine was yielded")
    assert len(disposed) == 1
