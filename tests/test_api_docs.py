"""/docs (Swagger UI) and /redoc (ReDoc) work without internet: every script, stylesheet and
icon their pages reference, and the schema they load, is served by the gateway itself."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href"} and value:
                self.urls.append(value)


def _references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    # The schema URL is passed to the UI in an inline script, not an attribute.
    parser.urls += re.findall(r"""(?:url|spec-url)\s*[:=]\s*['"]([^'"]+)['"]""", html)
    return parser.urls


@pytest.mark.parametrize(("page", "expected"), [
    ("/docs", {"swagger-ui-bundle.js": "javascript", "swagger-ui.css": "css",
               "favicon.png": "image/png"}),
    ("/redoc", {"redoc.standalone.js": "javascript", "favicon.png": "image/png"}),
])
def test_docs_pages_load_everything_from_the_gateway(client: TestClient, page: str,
                                                     expected: dict[str, str]) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    references = _references(html)
    assert "/openapi.json" in references
    served: dict[str, str] = {}
    for url in references:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from elsewhere"
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
        served[url.rsplit("/", 1)[-1]] = asset.headers["content-type"]
    for name, kind in expected.items():
        assert kind in served.get(name, ""), (name, served)
    assert "cdn.jsdelivr.net" not in html and "fonts.googleapis.com" not in html


def test_swagger_ui_does_not_call_the_online_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text
