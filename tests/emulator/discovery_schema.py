"""Validate JSON against the schemas of the Gmail discovery document bundled with
google-api-python-client: resolves $ref, checks types and formats, required properties and
rejects fields the schema does not declare."""

from __future__ import annotations

import base64
import binascii
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import googleapiclient


@cache
def discovery() -> dict[str, Any]:
    path = (Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
            / "gmail.v1.json")
    return json.loads(path.read_text())


def schemas() -> dict[str, Any]:
    return discovery()["schemas"]


@cache
def methods() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}

    def walk(resource: dict[str, Any]) -> None:
        for method in resource.get("methods", {}).values():
            out[method["id"]] = method
        for sub in resource.get("resources", {}).values():
            walk(sub)
    walk(discovery())
    return out


def response_schema(method_id: str) -> str | None:
    ref = methods()[method_id].get("response", {}).get("$ref")
    return ref


_INT = re.compile(r"-?\d+")
_B64URL = re.compile(r"[A-Za-z0-9_\-]*={0,2}")


class SchemaError(AssertionError):
    pass


def _check(value: Any, schema: dict[str, Any], path: str, errors: list[str]) -> None:
    if "$ref" in schema:
        _check(value, schemas()[schema["$ref"]], path, errors)
        return
    kind = schema.get("type")
    fmt = schema.get("format")
    if kind == "object":
        if not isinstance(value, dict):
            errors.append(f"{path}: expected object, got {type(value).__name__}")
            return
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                _check(item, props[key], f"{path}.{key}", errors)
            elif extra is not None:
                _check(item, extra, f"{path}.{key}", errors)
            else:
                errors.append(f"{path}: unknown field {key!r}")
        for key, prop in props.items():
            if prop.get("required") and key not in value:
                errors.append(f"{path}: missing required {key!r}")
    elif kind == "array":
        if not isinstance(value, list):
            errors.append(f"{path}: expected array")
            return
        for i, item in enumerate(value):
            _check(item, schema.get("items", {}), f"{path}[{i}]", errors)
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"{path}: expected string, got {type(value).__name__}")
            return
        if fmt in ("int64", "uint64") and not _INT.fullmatch(value):
            errors.append(f"{path}: {fmt} string expected, got {value!r}")
        if fmt == "byte":
            if not _B64URL.fullmatch(value):
                errors.append(f"{path}: not base64url")
            else:
                try:
                    base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
                except (binascii.Error, ValueError):
                    errors.append(f"{path}: undecodable base64")
        if "enum" in schema and value not in schema["enum"]:
            errors.append(f"{path}: {value!r} not in enum")
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: expected integer, got {type(value).__name__}")
        elif fmt in ("uint32", "uint64") and value < 0:
            errors.append(f"{path}: negative {fmt}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected boolean")
    elif kind == "number":
        if not isinstance(value, int | float) or isinstance(value, bool):
            errors.append(f"{path}: expected number")
    elif kind == "any" or kind is None:
        return


def validate(value: Any, schema_name: str) -> None:
    """Raise SchemaError listing every violation of ``schema_name``."""
    errors: list[str] = []
    _check(value, {"$ref": schema_name}, schema_name, errors)
    if errors:
        raise SchemaError("; ".join(errors[:20]))


def validate_response(method_id: str, value: Any) -> None:
    """A method without a response schema answers an empty body (None)."""
    name = response_schema(method_id)
    if name is None:
        assert value in (None, b"", ""), f"{method_id} should answer no body, got {value!r}"
        return
    validate(value, name)


GOOGLE_ERROR_KEYS = {"code", "message", "errors", "status", "details"}


def validate_error(body: Any, code: int, reason: str | None = None) -> None:
    """Google's JSON error envelope."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert set(err) <= GOOGLE_ERROR_KEYS and {"code", "message", "errors", "status"} <= set(err)
    assert err["code"] == code
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["errors"], list) and err["errors"]
    for item in err["errors"]:
        assert {"message", "domain", "reason"} <= set(item)
    if reason is not None:
        assert err["errors"][0]["reason"] == reason, err
