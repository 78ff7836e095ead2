"""users.labels.*: list, get, create, update, patch, delete."""

from __future__ import annotations

from typing import Any

from . import errors
from .errors import GoogleApiError
from .gmail_api import Ctx, route
from .labels import SYSTEM_IDS, Label

_MLV = ("show", "hide")
_LLV = ("labelShow", "labelShowIfUnread", "labelHide")


@route("GET", "labels", "gmail.users.labels.list")
def list_labels(ctx: Ctx) -> dict[str, Any]:
    return {"labels": [label.resource() for label in ctx.mailbox.labels.values()]}


def _label(ctx: Ctx) -> Label:
    label = ctx.mailbox.labels.get(ctx.params["id"])
    if label is None:
        raise errors.not_found()
    return label


@route("GET", "labels/{id}", "gmail.users.labels.get")
def get_label(ctx: Ctx) -> dict[str, Any]:
    label = _label(ctx)
    return label.resource(ctx.mailbox.label_counts(label.id))


def _apply(ctx: Ctx, label: Label, body: dict[str, Any], *, full: bool) -> None:
    name = body.get("name", None if not full else "")
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise errors.invalid_argument("Invalid label name")
        name = name.strip()
        if name.upper() in SYSTEM_IDS:
            raise errors.invalid_argument("Invalid label name")
        for other in ctx.mailbox.labels.values():
            if other.id != label.id and other.name.lower() == name.lower():
                raise GoogleApiError(409, "Label name exists or conflicts", reason="duplicate")
        label.name = name
    mlv = body.get("messageListVisibility")
    if mlv is not None:
        if mlv not in _MLV:
            raise errors.invalid_argument(f"Invalid messageListVisibility: {mlv}")
        label.message_list_visibility = mlv
    llv = body.get("labelListVisibility")
    if llv is not None:
        if llv not in _LLV:
            raise errors.invalid_argument(f"Invalid labelListVisibility: {llv}")
        label.label_list_visibility = llv
    if "color" in body:
        color = body["color"]
        if color is not None and (not isinstance(color, dict) or not {
                "textColor", "backgroundColor"} <= set(color)):
            raise errors.invalid_argument("Invalid label color")
        label.color = ({"textColor": str(color["textColor"]),
                        "backgroundColor": str(color["backgroundColor"])} if color else None)


@route("POST", "labels", "gmail.users.labels.create")
def create_label(ctx: Ctx) -> dict[str, Any]:
    body = ctx.json()
    label = Label(id="", name="")
    _apply(ctx, label, body, full=True)
    label.id = ctx.mailbox.new_label_id()
    ctx.mailbox.labels[label.id] = label
    return label.resource()


def _user_label(ctx: Ctx) -> Label:
    label = _label(ctx)
    if label.type == "system":
        raise errors.invalid_argument(f"Invalid label: {label.id}")
    return label


@route("PUT", "labels/{id}", "gmail.users.labels.update")
def update_label(ctx: Ctx) -> dict[str, Any]:
    label = _user_label(ctx)
    _apply(ctx, label, ctx.json(), full=True)
    return label.resource()


@route("PATCH", "labels/{id}", "gmail.users.labels.patch")
def patch_label(ctx: Ctx) -> dict[str, Any]:
    label = _user_label(ctx)
    _apply(ctx, label, ctx.json(), full=False)
    return label.resource()


@route("DELETE", "labels/{id}", "gmail.users.labels.delete")
def delete_label(ctx: Ctx) -> None:
    label = _label(ctx)
    if label.type == "system":
        raise errors.invalid_argument("Invalid delete request")
    ctx.mailbox.remove_label_everywhere(label.id)
