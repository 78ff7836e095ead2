"""What every fuzzed response must satisfy, beyond schemathesis's own conformance checks: no 5xx,
errors as the documented problem+json (docs/errors.md), no API key echoed back."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.kit.errors import PROBLEM_BASE

PROBLEM_REQUIRED = ("type", "title", "status", "detail", "code", "instance", "request_id")
CODE = re.compile(r"^[a-z][a-z0-9_]*$")


def response_violations(status: int, headers: Mapping[str, str], body: bytes,
                        secrets: list[str]) -> list[str]:
    found: list[str] = []
    if status >= 500:
        found.append(f"server error {status}")
    text = body.decode("utf-8", errors="replace")
    if any(secret in text for secret in secrets):
        found.append("the response echoes an API key")
    if status < 400:
        return found
    media_type = headers.get("content-type", "")
    if not media_type.startswith("application/problem+json"):
        return [*found, f"{status} answered as {media_type!r}, not application/problem+json"]
    try:
        problem = json.loads(text)
    except ValueError:
        return [*found, f"{status}: the problem body is not JSON"]
    if not isinstance(problem, dict):
        return [*found, f"{status}: the problem body is not an object"]
    missing = [k for k in PROBLEM_REQUIRED if k not in problem]
    if missing:
        found.append(f"{status}: problem without {', '.join(missing)}")
    if problem.get("status") != status:
        found.append(f"{status}: problem says status {problem.get('status')!r}")
    code = problem.get("code")
    if not isinstance(code, str) or not CODE.match(code):
        found.append(f"{status}: problem code {code!r} is not a stable snake_case code")
    elif problem.get("type") != PROBLEM_BASE + code:
        found.append(f"{status}: problem type {problem.get('type')!r} does not match its code")
    if problem.get("request_id") != headers.get("x-request-id"):
        found.append(f"{status}: problem request_id differs from the X-Request-Id header")
    if not isinstance(problem.get("instance"), str) or not problem["instance"].startswith("/"):
        found.append(f"{status}: problem instance is not the request path")
    for name in ("title", "detail"):
        if not isinstance(problem.get(name), str):
            found.append(f"{status}: problem {name} is not a string")
    return found


@dataclass
class Finding:
    operation: str
    mode: str
    caller: str
    purpose: str | None
    status: int
    request_id: str
    violations: list[str]
    reproduce: str
    server_log: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = [f"- {self.operation} [{self.mode}] as {self.caller}, purpose {self.purpose!r}: "
                 f"HTTP {self.status} (request id {self.request_id})"]
        lines += [f"    {v}" for v in self.violations]
        lines += [f"    server: {line}" for line in self.server_log[:8]]
        lines.append(f"    reproduce: {self.reproduce}")
        return "\n".join(lines)


def singular_id(path: str) -> str | None:
    """`/v1/mailboxes/{mailbox_id}/labels` -> `label_id`: the path parameter that names one
    item of the collection at `path` (used to feed ids the API handed out back into it)."""
    static = [part for part in path.split("/") if part and not part.startswith("{")]
    if not static:
        return None
    last = static[-1]
    return (last[:-1] if last.endswith("s") else last).replace("-", "_") + "_id"


def harvest(path: str, body: Any) -> list[dict[str, str]]:
    """Ids found in a successful JSON response, one record per object: `id` under the name of
    the path parameter of this collection, and every `*_id` member as itself."""
    found: list[dict[str, str]] = []
    items = body.get("items") if isinstance(body, dict) else None
    objects = [body] if isinstance(body, dict) else []
    if isinstance(items, list):
        objects += [item for item in items[:20] if isinstance(item, dict)]
    own = singular_id(path)
    for obj in objects:
        record: dict[str, str] = {}
        for key, value in obj.items():
            if not isinstance(value, str | int) or isinstance(value, bool):
                continue
            if key == "id" and own:
                record[own] = str(value)
            elif key.endswith("_id"):
                record[key] = str(value)
        if record:
            found.append(record)
    return found


# Refusals of schema-valid requests for rules the document states in words but JSON Schema cannot
# express (docs/mail-api.md#what-the-document-cannot-say): a cursor or page token that is not
# one this API handed out, `after` not before `before`, a return URL outside the tenant's
# allow-list, a webhook URL that is not https, an id in the body naming nothing of this mailbox,
# an address a service caller must name, an Idempotency-Key sent again with another body, a
# duration beyond the deployment's configured maximum (the document states the absolute one), a
# justification's kind that is not the stated purpose.
# Checked by their stable problem code.
SEMANTIC_CODES = frozenset({
    "invalid_cursor", "invalid_date_range", "return_url_not_allowed", "end_user_required",
    "webhook_url_invalid", "reply_to_message_not_found", "unknown_label", "invalid_address",
    "gmail_rejected", "idempotency_key_reused", "grant_too_long", "justification_too_long",
    "justification_kind_mismatch",
})


def semantic_refusal(status: int, body: bytes) -> bool:
    """A 400/422 for a rule beyond the schema: a code above, or `validation_failed` whose every
    error comes from a model's own rule (`value_error`), never from a type or bound."""
    if status not in (400, 422):
        return False
    try:
        problem = json.loads(body)
    except ValueError:
        return False
    if not isinstance(problem, dict):
        return False
    if problem.get("code") in SEMANTIC_CODES:
        return True
    errors = problem.get("errors")
    return (problem.get("code") == "validation_failed" and isinstance(errors, list)
            and bool(errors) and all(isinstance(e, dict) and e.get("type") == "value_error"
                                     for e in errors))


def schemathesis_violations(case: Any, response: Any, headers: dict[str, str]) -> list[str]:
    """Every check schemathesis runs by default (server errors, status code, content type,
    headers and body against the document, acceptance of schema-valid data, rejection of
    schema-violating data, missing required headers, unsupported methods, `Allow`...), less a
    schema-valid request refused for a rule beyond the schema (`semantic_refusal`)."""
    from schemathesis.openapi.checks import RejectedPositiveData

    try:
        case.validate_response(response, headers=headers)
    except (Exception, BaseExceptionGroup) as exc:  # a group of check failures
        failures = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else [exc]
        if semantic_refusal(response.status_code, response.content):
            failures = [f for f in failures if not isinstance(f, RejectedPositiveData)]
        return ["OpenAPI: " + " ".join(str(f).split())[:900] for f in failures]
    return []
