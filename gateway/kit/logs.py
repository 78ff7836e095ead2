"""JSON logs with the request id on every line, scrubbed of anything that looks like a secret.

Messages are formatted by us, never with content; as a second line of defence, API keys, bearer
and OAuth tokens are redacted from every rendered line, and exceptions are reduced to their type
and innermost location (no stack traces, no exception messages, which can quote data).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_SECRET_PATTERNS = [
    re.compile(r"gmgw_[A-Za-z0-9_\-]{8,}"),             # our API keys
    re.compile(r"gwl_[A-Za-z0-9_\-]{8,}"),              # one-time page session links
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._\-~+/=]{8,}"),  # any bearer credential
    re.compile(r"ya29\.[A-Za-z0-9._\-]+"),              # Google access tokens
    re.compile(r"1//[A-Za-z0-9._\-]{10,}"),             # Google refresh tokens
    re.compile(r"(?i)(refresh_token|access_token|client_secret|code_verifier|password)"
               r"([\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"),
]


# Every pattern above needs one of these substrings: one scan decides whether to run them at all
# (an access line is redacted on every request).
_MAYBE_SECRET = re.compile(r"(?i)gmgw_|gwl_|bearer|ya29\.|1//|token|secret|verifier|password")


def redact(text: str) -> str:
    if not _MAYBE_SECRET.search(text):
        return text
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
        else:
            text = pattern.sub("[redacted]", text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key in ("method", "path", "status", "duration_ms", "route"):
            value = getattr(record, key, None)
            if value is not None:
                payload[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            frames = traceback.extract_tb(exc.__traceback__)
            last = frames[-1] if frames else None
            where = f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}" if last else ""
            payload["error"] = {"type": type(exc).__name__, "at": where}
        return json.dumps(payload, separators=(",", ":"))


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
