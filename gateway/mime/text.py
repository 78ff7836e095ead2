"""Text taken from a message, made what the API promises: valid Unicode, and visible text for
snippets.

**The replacement rule** (docs/mail-api.md, "Text in views"), applied to every string the store
derives from a message (subject, addresses, header values, bodies, snippet, filenames) when it
is stored and again when it is served:

- bytes the parser could not decode (the standard library keeps them as "surrogate escapes",
  U+DC80..U+DCFF) are decoded as UTF-8 where they form UTF-8, each invalid byte otherwise
  becoming U+FFFD;
- any other surrogate code point (a lone half of a pair, as a UTF-7 body can decode to) is
  U+FFFD;
- a text part in an unknown charset is decoded as UTF-8; bytes invalid in the charset are
  U+FFFD (one per invalid sequence, as Python's decoders replace them).

So every string encodes to UTF-8 and every JSON document of a view, an export line or a webhook
body is valid UTF-8.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

REPLACEMENT = "\ufffd"
SNIPPET_CHARS = 200

_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _bytes_back(match: re.Match[str]) -> str:
    return bytes(ord(c) - 0xDC00 for c in match.group()).decode("utf-8", "replace")


def valid_text(value: str) -> str:
    """`value` with the replacement rule applied (the same object when it is already valid)."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(REPLACEMENT, _ESCAPED_BYTES.sub(_bytes_back, value))
    return value


def valid_json(value: Any) -> Any:
    """`valid_text` on every string of a JSON-like value (dict keys included)."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, list):
        return [valid_json(v) for v in value]
    if isinstance(value, tuple):
        return tuple(valid_json(v) for v in value)
    if isinstance(value, dict):
        return {valid_json(k): valid_json(v) for k, v in value.items()}
    return value


_INVISIBLE = frozenset({"script", "style", "head", "title", "template", "noscript", "svg"})
_BLOCKS = frozenset({"p", "div", "br", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5",
                     "h6", "table", "blockquote", "pre", "hr", "section", "article", "ul",
                     "ol", "dl", "dt", "dd", "header", "footer"})


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE:
            self.hidden += 1
        elif tag in _BLOCKS:
            self.out.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self.out.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.out.append(data)


def visible_text(html: str) -> str:
    """What a browser shows of `html`, as plain text: markup, comments, styles, scripts and the
    document head removed, entities decoded (`&nbsp;` is a space)."""
    parser = _Visible()
    parser.feed(html)
    parser.close()
    return "".join(parser.out).replace("\xa0", " ")


def snippet(text: str, html: str) -> str:
    """The first `SNIPPET_CHARS` characters of the visible text, whitespace collapsed: the text
    body, or the HTML body's visible text when the text body is missing or blank."""
    source = text if text.strip() else visible_text(html)
    return " ".join(source.split())[:SNIPPET_CHARS]
