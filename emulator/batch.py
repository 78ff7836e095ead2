"""The batch endpoint (``/batch/gmail/v1``; ``/batch`` too): multipart/mixed in and out, one
HTTP request per part, answered as googleapiclient's BatchHttpRequest parses them. Each part
goes through the normal dispatcher, so each is authenticated, charged quota and may fail."""

from __future__ import annotations

import contextlib
import secrets
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

from . import errors
from .gmail_api import ApiRequest, ApiResponse, GmailApi, error_response
from .multipart import boundary_of, split, split_headers


def _parse_part(part: bytes) -> tuple[str | None, ApiRequest | None]:
    outer, http = split_headers(part)
    content_id = outer.get("content-id")
    line_end = http.find(b"\n")
    if line_end < 0:
        return content_id, None
    request_line = http[:line_end].decode("latin-1").strip()
    pieces = request_line.split(" ")
    if len(pieces) < 2:
        return content_id, None
    method, target = pieces[0].upper(), pieces[1]
    headers, body = split_headers(http[line_end + 1:])
    if "content-length" in headers:
        with contextlib.suppress(ValueError):
            body = body[: int(headers["content-length"])]
    url = urlsplit(target)
    return content_id, ApiRequest(method=method, path=url.path,
                                  query=parse_qsl(url.query, keep_blank_values=True),
                                  headers=headers, body=body)


def _response_part(content_id: str | None, index: int, resp: ApiResponse) -> bytes:
    if content_id and content_id.startswith("<") and content_id.endswith(">"):
        cid = f"<response-{content_id[1:-1]}>"
    else:
        cid = f"<response-{content_id or index + 1}>"
    try:
        phrase = HTTPStatus(resp.status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = ["Content-Type: application/http", f"Content-ID: {cid}", "",
             f"HTTP/1.1 {resp.status} {phrase}"]
    lines += [f"{k}: {v}" for k, v in resp.headers.items()]
    lines += [f"Content-Length: {len(resp.body)}", "", ""]
    return "\r\n".join(lines).encode("latin-1") + resp.body


def handle_batch(api: GmailApi, content_type: str, body: bytes,
                 authorization: str | None) -> ApiResponse:
    boundary = boundary_of(content_type)
    if not content_type.lower().startswith("multipart/mixed") or not boundary:
        return error_response(errors.bad_request(
            "Batch requests must be multipart/mixed with a boundary."))
    parts = split(body, boundary)
    if not parts:
        return error_response(errors.bad_request("Batch request has no parts."))
    limit = api.state.settings.batch_max_parts
    if len(parts) > limit:
        return error_response(errors.bad_request(
            f"Too many requests in batch: {len(parts)}; the limit is {limit}."))
    out_boundary = "batch_" + secrets.token_urlsafe(16).replace("-", "x").replace("_", "y")
    chunks: list[bytes] = []
    for index, part in enumerate(parts):
        content_id, request = _parse_part(part)
        if request is None:
            resp = error_response(errors.bad_request("Malformed batch part."))
        else:
            resp = api.dispatch(request, fallback_auth=authorization)
        chunks.append(b"--" + out_boundary.encode() + b"\r\n"
                      + _response_part(content_id, index, resp) + b"\r\n")
    chunks.append(b"--" + out_boundary.encode() + b"--\r\n")
    return ApiResponse(200, b"".join(chunks),
                       {"Content-Type": f"multipart/mixed; boundary={out_boundary}",
                        "Vary": "Origin, X-Origin"})
