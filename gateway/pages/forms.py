"""Form helpers shared by the pages: ids typed into one field, a form's data validated by the
API's own body model, and validation errors placed on the fields they concern."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from gateway.kit.errors import ValidationFailed

Model = TypeVar("Model", bound=BaseModel)


async def form_data(request: Request) -> dict[str, str]:
    """The submitted form's text fields (read once: the CSRF check read it before the
    decision; Starlette keeps it)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


FormDep = Annotated[dict[str, str], Depends(form_data)]


def split_ids(raw: str | None) -> list[str]:
    """Ids typed into one field, separated by spaces, commas or new lines (duplicates once)."""
    if not raw:
        return []
    return list(dict.fromkeys(part for part in raw.replace(",", " ").split() if part))


def validated(model: type[Model], body: dict[str, Any]) -> Model:
    """`body` as the API's model, or the API's 422 (`errors`: location, message, type; the
    submitted values are never echoed)."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ValidationFailed("One or more fields are missing or invalid.", extra={"errors": [
            {"location": ["body", *[str(p) for p in err.get("loc", ())]],
             "message": str(err.get("msg", "invalid")), "type": str(err.get("type", ""))}
            for err in exc.errors()]}) from None


def whole_number(raw: str, name: str, *, digits: int = 7) -> int:
    """A form's integer field (decimal digits only), or the API's 422 naming it."""
    text = raw.strip()
    if not text.isdigit() or len(text) > digits:
        raise ValidationFailed("One or more fields are missing or invalid.", extra={"errors": [
            {"location": ["body", name], "message": "a whole number", "type": "int_parsing"}]})
    return int(text)


def place_errors(errors: Iterable[dict[str, Any]], names: Iterable[str]) -> dict[str, str]:
    """Each error's message under the first form field its location names (else `form`)."""
    known = set(names)
    placed: dict[str, str] = {}
    for error in errors:
        location = [str(p) for p in error.get("location") or ()]
        name = next((p for p in location if p in known), "form")
        message = str(error.get("message") or "invalid")
        placed[name] = placed[name] + "; " + message if name in placed else message
    return placed


def errors_of(exc: ValidationFailed) -> list[dict[str, Any]]:
    found = exc.extra.get("errors") if exc.extra else None
    return list(found) if isinstance(found, list) else [{"location": [], "message": exc.detail}]
