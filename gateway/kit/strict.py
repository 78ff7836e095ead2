"""Request values are taken as the document types them, never coerced.

FastAPI validates a request body as Python objects (the JSON already parsed), in pydantic's lax
mode, which turns `"yes"` into `true`, `true` into `1` and `0` into 1970-01-01. Request models use
`strict=True` instead: a JSON boolean, integer or string is required where the document says so.
Types JSON carries as strings (UUIDs, enums, instants) say `Strict(False)` to be parsed from
their text, and an instant must be ISO 8601 text (`Instant`), never a number, in a body or a
query alike (a route that needs its timezone says so with its own code, `invalid_date`). A query
flag is `true` or `false` (`QueryFlag`), a query integer decimal digits (`DIGITS`), a body
integer a JSON number without a fraction (`JSON_INTEGER`)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Strict
from pydantic_core import PydanticCustomError

_ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_DIGITS = re.compile(r"^[+-]?\d{1,18}$")


def _iso_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_INSTANT.match(value):
        raise PydanticCustomError(
            "datetime_type", "Input should be an ISO 8601 date and time, e.g. 2026-11-10T10:00:00Z")
    return value


def _json_integer(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("int_type", "Input should be a JSON integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise PydanticCustomError("int_from_float", "Input should be a JSON integer")
        return int(value)  # 17.0 is an integer in JSON Schema
    return value


def _flag_text(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if value not in ("true", "false"):
        raise PydanticCustomError("bool_parsing", "Input should be true or false")
    return value == "true"


def _digits(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str) or not _DIGITS.match(value):
        raise PydanticCustomError("int_parsing", "Input should be an integer in decimal digits")
    return int(value)


Instant = Annotated[datetime, Strict(False), BeforeValidator(_iso_text)]
Uuid = Annotated[uuid.UUID, Strict(False)]
QueryFlag = Annotated[bool, BeforeValidator(_flag_text)]
# Before the bounds in the annotation (`Annotated[int, Ge(1), Le(200), DIGITS, Query()]`), so that
# the document keeps them as `minimum`/`maximum`: Query(ge=..., le=...) would wrap them outside
# the validator, where they are enforced but not documented.
DIGITS = BeforeValidator(_digits)
# A body integer, in a strict model: a JSON number without a fraction (17 or 17.0), never a
# boolean or a string. Bounds go before it, as for DIGITS: `Annotated[int, Ge(1), JSON_INTEGER]`.
JSON_INTEGER = (Strict(False), BeforeValidator(_json_integer))
