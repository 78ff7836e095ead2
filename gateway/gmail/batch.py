"""Gmail batch requests without the email package on the hot path.

googleapiclient's `BatchHttpRequest` writes the outgoing multipart with the email package's
`Generator` (header folding per line of every part) and reads Google's answer — ~8 MB for 50
`messages.get format=raw` — by decoding it to text and feeding it line by line through the
email `FeedParser`, then again through a `FeedParser` per part. For sync that was most of the
worker's CPU per message. `GmailBatch` keeps everything else of Google's batch: requests built
by the discovery resource, credentials applied and refreshed by google-auth (`execute`: refresh
before sending, a 401 part refreshes and is sent again), `HttpError`s raised per part from the
part's status and body, responses turned into objects by each request's `postproc`. It only
replaces the two text conversions, byte for byte:

- `serialize_part` / `GmailBatch._execute`: the multipart/mixed request written directly
  (CRLF line breaks, one `application/http` part per request, `Content-ID: <base + id>`).
- `split_batch_response`: the response split at its boundary delimiter lines (RFC 2046: a
  delimiter is `--boundary` at the start of a line, optionally `--`, trailing blanks, then the
  line break; the line break before it belongs to it — the rule the email parser applies), and
  each part's embedded HTTP response read as status line, headers, blank line, body bytes.

`loads_message` parses a successful member's JSON without running the JSON string scanner over
a `format=raw` message's `raw` field (the whole message, base64url: no escapes possible): the
field is cut out with a byte search, checked to be pure base64url, and put back as the same
`str` `json.loads` would give. Anything it is not sure of goes to `json.loads`.

Equivalence with googleapiclient's own parsing on real emulator responses (errors, 404s, a
body with boundary-like text) is tested in tests/gmail/test_batch_split.py.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httplib2
from googleapiclient import _auth
from googleapiclient.errors import BatchError, HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest
from googleapiclient.model import JsonModel

_BOUNDARY_PARAM = re.compile(r'boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.I)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_RAW_KEY = re.compile(rb'"raw"\s*:\s*"')
# Bytes a base64url value may hold; `bytes.translate(None, _BASE64URL)` leaves what it may not
# (a character class regex scans ~5x slower).
_BASE64URL = (string.ascii_letters + string.digits + "-_=").encode("ascii")


@dataclass
class PartResponse:
    """One member's answer inside a batch response."""

    content_id: str | None
    status: int
    reason: str
    version: int
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names, last one wins
    body: bytes = b""

    def response(self) -> httplib2.Response:
        """The part as googleapiclient's batch hands it to `postproc`/`HttpError`."""
        resp = httplib2.Response({**self.headers, "status": str(self.status)})
        resp.reason = self.reason
        resp.version = self.version
        return resp


def boundary_of(content_type: str) -> str | None:
    match = _BOUNDARY_PARAM.search(content_type)
    if match is None:
        return None
    return match.group(1) or match.group(2)


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """Each part's bytes (its headers and content) between the delimiter lines.

    `--boundary` is searched with `bytes.find` (a regular expression tried at every offset of
    8 MB costs more than the email parser saved); a hit counts only at the start of a line and
    when the rest of its line is `--`, blanks or nothing, as in the email parser."""
    mark = b"--" + boundary.encode("latin-1")
    parts: list[bytes] = []
    start: int | None = None
    at = body.find(mark)
    while at >= 0:
        line_start = at == 0 or body[at - 1] in b"\r\n"
        after = at + len(mark)
        line_end = body.find(b"\n", after)
        line_end = len(body) if line_end < 0 else line_end + 1
        rest = body[after:line_end].rstrip(b"\r\n")
        closing = rest.startswith(b"--")
        if line_start and not (rest[2:] if closing else rest).strip(b" \t"):
            if start is not None:  # the line break before the delimiter belongs to it
                cut = at - (2 if body[at - 2:at] == b"\r\n" else 1)
                parts.append(body[start:max(cut, start)])
            if closing:
                return parts
            start = line_end
        at = body.find(mark, after)
    if start is not None:  # no close delimiter: the email parser keeps the last part too
        parts.append(body[start:])
    return parts


def _headers(block: bytes) -> dict[str, str]:
    """RFC 822 header lines as the email package's compat32 policy reads them (folded lines
    kept with their line breaks, value stripped of leading blanks and the final line break)."""
    out: dict[str, str] = {}
    name: str | None = None
    value = ""
    for line in block.decode("utf-8", "surrogateescape").splitlines(keepends=True):
        if line[:1] in (" ", "\t") and name is not None:
            value += line
            continue
        if name is not None:
            out[name] = value.rstrip("\r\n")
        key, sep, rest = line.partition(":")
        if not sep:
            name = None
            continue
        name, value = key.strip().lower(), rest.lstrip(" \t")
    if name is not None:
        out[name] = value.rstrip("\r\n")
    return out


def _cut_headers(data: bytes) -> tuple[bytes, bytes]:
    """(header block, content) at the first blank line."""
    if data.startswith((b"\r\n", b"\n")):
        return b"", data[2 if data.startswith(b"\r\n") else 1:]
    match = _HEADER_END.search(data)
    if match is None:
        return data, b""
    return data[:match.start()], data[match.end():]


def parse_part(part: bytes) -> PartResponse:
    """A batch part: MIME headers (Content-ID), then an HTTP response (status line, headers,
    blank line, body)."""
    outer, http = _cut_headers(part)
    line_end = http.find(b"\n")
    if line_end < 0:
        raise BatchError("A batch response part has no status line.")
    status_line = http[:line_end].decode("latin-1").rstrip("\r")
    pieces = status_line.split(" ", 2)
    if len(pieces) < 2 or not pieces[1].isdigit():
        raise BatchError(f"A batch response part has a bad status line: {status_line[:80]!r}")
    protocol = pieces[0]
    head, body = _cut_headers(http[line_end + 1:])
    try:
        version = int(protocol.split("/", 1)[1].replace(".", ""))
    except (IndexError, ValueError):
        version = 11
    return PartResponse(content_id=_headers(outer).get("content-id"), status=int(pieces[1]),
                        reason=pieces[2] if len(pieces) > 2 else "", version=version,
                        headers=_headers(head), body=body)


def split_batch_response(content_type: str, content: bytes) -> list[PartResponse]:
    """Every member's answer in a multipart/mixed batch response, in order."""
    boundary = boundary_of(content_type)
    if not content_type.lower().lstrip().startswith("multipart/") or not boundary:
        raise BatchError("Response not in multipart/mixed format.")
    return [parse_part(part) for part in split_multipart(content, boundary)]


def serialize_part(request: HttpRequest) -> bytes:
    """One request as an `application/http` body: what googleapiclient's
    `_serialize_request` writes (content type, the request's headers with its credentials,
    Host, the body with its length), with CRLF line breaks."""
    parsed = urllib.parse.urlparse(request.uri)
    target = urllib.parse.urlunparse(("", "", parsed.path, parsed.params, parsed.query, ""))
    headers = dict(request.headers)
    if request.http is not None:
        credentials = _auth.get_credentials_from_http(request.http)
        if credentials is not None:
            _auth.apply_credentials(credentials, headers)
    content_type = headers.pop("content-type", "application/json")
    lines = [f"{request.method} {target} HTTP/1.1", f"Content-Type: {content_type}",
             "MIME-Version: 1.0"]
    lines += [f"{key}: {value}" for key, value in headers.items()]
    lines.append(f"Host: {parsed.netloc}")
    body = request.body
    payload = (body.encode("utf-8") if isinstance(body, str) else body) if body else None
    if payload is not None:
        lines.append(f"content-length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + (payload or b"")


def loads_message(content: bytes) -> Any:
    """`json.loads(content)`, without scanning a top-level base64url `raw` field as a JSON
    string (see the module docstring). Equal to `json.loads` whenever it returns."""
    match = _RAW_KEY.search(content)
    if match is None:
        return json.loads(content)
    start = match.end()
    end = content.find(b'"', start)
    if end < 0:
        return json.loads(content)
    value = content[start:end]
    if value.translate(None, _BASE64URL):
        return json.loads(content)
    rest = json.loads(content[:start] + content[end:])
    if not isinstance(rest, dict) or rest.get("raw") != "":
        return json.loads(content)  # the match was not the top-level key (or a duplicate)
    rest["raw"] = value.decode("ascii")
    return rest


Postproc = Callable[[httplib2.Response, bytes], Any]


def _fast_postproc(original: Postproc) -> Postproc:
    """A request's JSON `postproc` with `loads_message` for a successful JSON body; errors,
    204s and anything else go to the original (which raises `HttpError` as before)."""

    def postproc(resp: httplib2.Response, content: bytes) -> Any:
        if 200 <= resp.status < 300 and resp.status != 204 and content[:1] == b"{":
            try:
                return loads_message(content)
            except ValueError:
                pass  # not JSON after all: the original decides (it returns the text)
        return original(resp, content)

    return postproc


class GmailBatch(BatchHttpRequest):  # type: ignore[misc]
    """googleapiclient's batch with the wire format written and read byte-level (see the
    module docstring). `execute(http=...)` is Google's: refresh, send, redo 401s, callbacks."""

    def add(self, request: HttpRequest, callback: Any = None,
            request_id: str | None = None) -> None:
        if isinstance(getattr(request.postproc, "__self__", None), JsonModel):
            request.postproc = _fast_postproc(request.postproc)
        super().add(request, callback=callback, request_id=request_id)

    def _execute(self, http: Any, order: list[str], requests: dict[str, HttpRequest]) -> None:
        boundary = "batch_" + secrets.token_hex(16)
        delimiter = f"--{boundary}\r\n".encode("ascii")
        chunks: list[bytes] = []
        for request_id in order:
            chunks += [delimiter, b"Content-Type: application/http\r\n"
                       b"Content-Transfer-Encoding: binary\r\n",
                       f"Content-ID: {self._id_to_header(request_id)}\r\n\r\n".encode(),
                       serialize_part(requests[request_id]), b"\r\n"]
        chunks.append(f"--{boundary}--\r\n".encode("ascii"))
        body = b"".join(chunks)
        headers = {"content-type": f'multipart/mixed; boundary="{boundary}"'}
        resp, content = http.request(self._batch_uri, method="POST", body=body,
                                     headers=headers)
        if resp.status >= 300:
            raise HttpError(resp, content, uri=self._batch_uri)
        try:
            parts = split_batch_response(resp.get("content-type", ""), content)
        except BatchError as exc:
            raise BatchError(str(exc.reason), resp=resp, content=content) from None
        for part in parts:
            if part.content_id is None:
                raise BatchError("A batch response part has no Content-ID.", resp=resp,
                                 content=content)
            self._responses[self._header_to_id(part.content_id)] = (part.response(), part.body)
