"""Fuzzing over the gateway's own OpenAPI with schemathesis, against the real app over real HTTP
(PostgreSQL, the OPA server, the Google emulator; tests/fuzz/world.py).

Every operation the app documents is a test case here, found when the tests are collected, so a
route added tomorrow is fuzzed tomorrow. Each gets schema-valid (positive) and schema-violating
(negative) requests, sent with API keys of every actor kind of two tenants (and none, and a bad
one) and purposes from the registry (mostly `user_facing`, sometimes missing or unknown); path
parameters name real rows (mailboxes, messages, threads, labels, and ids the API itself handed
out earlier in the run) three times out of four. A request fails the test when:

- the answer is a 5xx (with the real services up, none is expected: fail-closed 503s mean a bug);
- an error is not the documented problem+json (media type, members, `status`, `code`, `type`,
  `request_id` = X-Request-Id) or an answer does not match the OpenAPI (schemathesis's status
  code, content type, header and body schema checks);
- a response contains an API key.

Bounded for the suite: GATEWAY_FUZZ_EXAMPLES (default 20) examples per operation and mode, and
all operations together stop generating after GATEWAY_FUZZ_SECONDS (default 70) seconds, each
operation getting an equal share of what is left but never fewer than MIN_SENT requests per
mode (so a slow operation early on cannot starve the last ones). Deterministic: hypothesis is
seeded with GATEWAY_FUZZ_SEED (default 9122026) and the example database is off, so every run
makes the same choices in the same order (generated values, caller, purpose, which kind of real
row); what differs is the ids the server hands out and how far along the time budget gets.
A longer run:

    GATEWAY_FUZZ_EXAMPLES=300 GATEWAY_FUZZ_SECONDS=1800 scripts/pytest.sh tests/fuzz -q

Operations run in a fixed order: creations first (so their ids feed the others), deletions last.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation

from gateway.app import create_app
from gateway.policy.vocabulary import DECLARED_PURPOSES
from gateway.settings import Environment, Settings
from tests.fuzz.checks import Finding, harvest, response_violations, schemathesis_violations
from tests.fuzz.world import Caller, FuzzTarget, capable_caller, new_request_id
from tests.support.world import TEST_PEPPER

pytestmark = [pytest.mark.postgres, pytest.mark.opa]

EXAMPLES = int(os.environ.get("GATEWAY_FUZZ_EXAMPLES", "20"))
SECONDS = float(os.environ.get("GATEWAY_FUZZ_SECONDS", "70"))
SEED = int(os.environ.get("GATEWAY_FUZZ_SEED", "9122026"))
COVERAGE_CASES = int(os.environ.get("GATEWAY_FUZZ_COVERAGE_CASES", "40"))
MIN_SENT = 3
METHOD_ORDER = {"post": 0, "put": 1, "patch": 2, "get": 3, "head": 4, "options": 5, "delete": 6}


def documented_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation in the app's OpenAPI, creations first, deletions last."""
    app = create_app(Settings(environment=Environment.test,
                              api_key_pepper=SecretStr(TEST_PEPPER)))
    found = [(method, path) for path, ops in app.openapi()["paths"].items()
             for method in ops if method in METHOD_ORDER]
    return sorted(found, key=lambda op: (METHOD_ORDER[op[0]], op[1]))


OPERATIONS = documented_operations()


@dataclass
class Clock:
    """Shares the time budget among the operations still to run."""

    deadline: float
    remaining: int
    statuses: dict[str, Counter[int]] = field(default_factory=dict)

    def share(self) -> float:
        left = max(0.0, self.deadline - time.monotonic())
        share = left / max(1, self.remaining)
        self.remaining -= 1
        return share


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock(deadline=time.monotonic() + SECONDS, remaining=len(OPERATIONS))


@pytest.fixture(scope="module")
def schema(fuzz_target: FuzzTarget) -> Any:
    return schemathesis.openapi.from_dict(fuzz_target.app.openapi())


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


PURPOSES = ["user_facing"] * 6 + sorted(DECLARED_PURPOSES) + [None, "not-a-purpose"]
CALLER_WEIGHTS = {"a.crm": 6, "a.end_user": 5, "a.operator": 2, "a.reviewer": 2,
                  "a.analytics": 1, "a.other_user": 1, "b.crm": 1, "b.end_user": 1,
                  "anonymous": 1, "bad-key": 1}


def _masked_curl(case: Any, headers: dict[str, str], base_url: str, caller: str) -> str:
    shown = dict(headers)
    if "Authorization" in shown:
        shown["Authorization"] = f"Bearer <{caller} key>"
    curl: str = case.as_curl_command(headers=shown, base_url=base_url)
    return curl


class _OutOfTime(Exception):
    """Stops hypothesis early once an operation has used its share of the time budget."""


@dataclass
class Run:
    """One operation's share of the run: where it sends, what it saw, what failed."""

    operation: Any
    target: FuzzTarget
    http: requests.Session
    statuses: Counter[int]
    findings: list[Finding] = field(default_factory=list)

    def allowed_purposes(self) -> list[str]:
        """The `Gateway-Purpose` values the document lists for this operation."""
        for parameter in self.operation.definition.raw.get("parameters", []):
            if parameter.get("name") == "Gateway-Purpose":
                return list(parameter.get("schema", {}).get("enum", []))
        return []

    def fill_path(self, case: Any, pick: int) -> None:
        """Path parameters naming one real row (a coherent record: a message of that mailbox)."""
        names = set(case.path_parameters or {})
        records = self.target.records
        fitting = ([r for r in records if names <= set(r)]
                   or [r for r in records if names & set(r)])
        if fitting:
            record = fitting[pick % len(fitting)]
            case.path_parameters.update({k: v for k, v in record.items() if k in names})

    def send(self, case: Any, caller: Caller, purpose: str | None, mode: str) -> None:
        request_id = new_request_id()
        headers = {**caller.headers, "X-Request-Id": request_id}
        if purpose is not None:
            headers["Gateway-Purpose"] = purpose
        meta = case.meta
        if meta is not None and meta.generation.mode.is_negative:
            # Headers the case violates (a value, or a required one left out) are sent as
            # generated: ours would make the request valid again.
            header = meta.components.get(ParameterLocation.HEADER)
            own = {name.lower() for name in case.headers or {}}
            if header is not None and header.mode.is_negative:
                headers = {"X-Request-Id": request_id}
            else:
                headers = {k: v for k, v in headers.items() if k.lower() not in own}
        response = case.call(base_url=self.target.base_url, session=self.http, headers=headers,
                             timeout=30, allow_redirects=False)
        self.statuses[response.status_code] += 1
        flat = {k.lower(): v[0] if isinstance(v, list) else v
                for k, v in response.headers.items()}
        violations = response_violations(response.status_code, flat, response.content,
                                         self.target.secrets)
        violations += schemathesis_violations(case, response, headers)
        if (200 <= response.status_code < 300
                and flat.get("content-type", "").startswith("application/json")):
            sent_params = {k: str(v) for k, v in (case.path_parameters or {}).items()}
            with contextlib.suppress(ValueError):  # e.g. an empty body
                for found in harvest(self.operation.path, json.loads(response.content)):
                    self.target.remember({**sent_params, **found})
        if violations and response.status_code >= 400:
            violations.append("answered: " + response.text[:400])
        if violations:
            sent = {**headers, **{k: str(v) for k, v in (case.headers or {}).items()
                                  if k.lower() not in {h.lower() for h in headers}}}
            self.findings.append(Finding(
                operation=f"{self.operation.method.upper()} {self.operation.path}", mode=mode,
                caller=caller.name, purpose=sent.get("Gateway-Purpose"),
                status=response.status_code, request_id=request_id, violations=violations,
                reproduce=_masked_curl(case, headers, self.target.base_url, caller.name),
                server_log=self.target.server_errors.get(request_id, [])))


def fuzz(run: Run, mode: GenerationMode, seconds: float) -> None:
    """Hypothesis-generated requests of one mode, from callers of every kind."""
    stop_at = time.monotonic() + seconds
    sent = [0]
    callers = [c for c in run.target.callers for _ in range(CALLER_WEIGHTS.get(c.name, 1))]

    @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None,
                         phases=[Phase.explicit, Phase.generate],
                         suppress_health_check=list(HealthCheck),
                         verbosity=hypothesis.Verbosity.quiet)
    @hypothesis.seed(SEED)
    @hypothesis.given(case=run.operation.as_strategy(generation_mode=mode), data=st.data())
    def generated(case: Any, data: st.DataObject) -> None:
        # Draws never depend on state that changes during the run (the pools of known ids grow),
        # so hypothesis sees the same choices when it replays an example.
        caller = callers[data.draw(st.integers(0, len(callers) - 1))]
        purpose = PURPOSES[data.draw(st.integers(0, len(PURPOSES) - 1))]
        if mode is GenerationMode.POSITIVE and purpose not in run.allowed_purposes():
            purpose = None  # one the document lists for the operation, drawn by schemathesis
        real, pick = data.draw(st.integers(0, 3)), data.draw(st.integers(0, 9999))
        if real > 0:
            run.fill_path(case, pick)
        if sent[0] >= MIN_SENT and time.monotonic() > stop_at:
            raise _OutOfTime
        sent[0] += 1
        run.send(case, caller, purpose, mode.value)

    # Unsatisfiable: e.g. no way to violate the schema of an operation without parameters.
    with contextlib.suppress(hypothesis.errors.Unsatisfiable, _OutOfTime):
        generated()


def cover(run: Run, seconds: float) -> None:
    """schemathesis's coverage phase: each parameter and property at its bounds and just past
    them, each required one missing, wrong types, undocumented methods on the path (405 and
    `Allow`). Sent by a caller the policy lets perform the operation, with the purpose the case
    carries (the document declares the header), on real rows unless a path parameter is what
    the case violates."""
    operation = run.operation
    config = operation.schema.config.generation_for(operation=operation, phase="coverage")
    cases = list(operation.schema.iter_coverage_cases(
        operation, generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=config))
    methods = [c for c in cases if c.method.lower() != operation.method.lower()]
    rest = [c for c in cases if c.method.lower() == operation.method.lower()]
    step = max(1, len(rest) // max(1, COVERAGE_CASES))
    chosen = methods + rest[::step][:COVERAGE_CASES]
    caller = capable_caller(run.target, operation.definition.raw.get("x-policy-action"))
    stop_at = time.monotonic() + seconds
    for n, case in enumerate(chosen):
        if n >= MIN_SENT and time.monotonic() > stop_at:
            break
        data = case.meta.phase.data if case.meta is not None else None
        negated_path = getattr(data, "parameter_location", None) == ParameterLocation.PATH
        if not negated_path:
            run.fill_path(case, n)
        run.send(case, caller, None, "coverage")


def test_seeded_rows_are_reachable(fuzz_target: FuzzTarget, http: requests.Session) -> None:
    """Not vacuous (1): the ids and keys the fuzzer draws from open real rows. Runs first, before
    the fuzzer deletes anything."""
    record = next(r for r in fuzz_target.records if "message_id" in r)
    crm = next(c for c in fuzz_target.callers if c.name == "a.crm")
    headers = {**crm.headers, "Gateway-Purpose": "user_facing"}
    base = f"{fuzz_target.base_url}/v1/mailboxes/{record['mailbox_id']}"
    for url in (base, base + "/messages", f"{base}/messages/{record['message_id']}"):
        assert http.get(url, headers=headers, timeout=30).status_code == 200, url


@pytest.mark.parametrize(("method", "path"), OPERATIONS,
                         ids=[f"{m.upper()} {p}" for m, p in OPERATIONS])
def test_operation_answers_without_5xx_and_with_problems(
        method: str, path: str, fuzz_target: FuzzTarget, schema: Any, clock: Clock,
        http: requests.Session) -> None:
    operation = schema[path][method.upper()]
    seconds = clock.share()
    statuses: Counter[int] = clock.statuses.setdefault(f"{method.upper()} {path}", Counter())
    run = Run(operation, fuzz_target, http, statuses)
    cover(run, seconds / 3)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        fuzz(run, mode, seconds / 3)
    findings = run.findings
    assert sum(statuses.values()) > 0, "no request was sent (time budget exhausted?)"
    if findings:
        shown = "\n".join(f.render() for f in findings[:6])
        pytest.fail(f"{len(findings)} bad answers from {method.upper()} {path} "
                    f"(statuses seen: {dict(statuses)}):\n{shown}", pytrace=False)


def test_the_run_got_answers_and_refusals(clock: Clock) -> None:
    """Not vacuous (2): the run was answered from the data and refused callers without rights."""
    if not clock.statuses:
        pytest.skip("run together with the operations above")
    ok = {op for op, seen in clock.statuses.items() if any(200 <= s < 300 for s in seen)}
    refused = {op for op, seen in clock.statuses.items() if any(s in (401, 403) for s in seen)}
    sent = sum(sum(seen.values()) for seen in clock.statuses.values())
    assert ok and refused, (sorted(ok), sorted(refused))
    print(f"fuzzing: {sent} requests over {len(clock.statuses)} operations; "
          f"{len(ok)} answered 2xx at least once, {len(refused)} refused a caller")
