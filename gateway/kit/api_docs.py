"""The API documentation pages, served entirely by the gateway: Swagger UI at `/docs` and ReDoc
at `/redoc`. Their JavaScript, CSS and icon are the copies shipped in the `fastapi-offline`
package (Swagger UI's bundle and ReDoc's standalone build), mounted under `/docs/assets`, so the
pages work without internet and load nothing from a CDN. Swagger UI's online validator is off
for the same reason (it would send the schema's URL to validator.swagger.io)."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_PATH = "/docs/assets"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
ASSET_PACKAGE = "fastapi_offline"
# The pages load only what the gateway serves: ReDoc's bundle links its vendor's logo from a CDN,
# which the browser must not fetch (it would tell a third party who reads the docs). The
# inline scripts are the two pages' own start-up code; ReDoc runs its search in a blob: worker.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                               "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "font-src 'self' data:; worker-src 'self' blob:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
}
SWAGGER_PARAMETERS = {"validatorUrl": None}


def assets_directory() -> str:
    return str(files(ASSET_PACKAGE) / "static")


def _with_page_headers(response: HTMLResponse) -> HTMLResponse:
    response.headers.update(PAGE_HEADERS)
    return response


def install_api_docs(app: FastAPI) -> None:
    """Add /docs, /redoc and their assets to `app` (created with `docs_url=None,
    redoc_url=None`)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=assets_directory()), name="docs-assets")

    def urls(request: Request) -> tuple[str, str]:
        root = request.scope.get("root_path", "")
        return f"{root}{app.openapi_url}", f"{root}{ASSETS_PATH}"

    async def swagger_ui(request: Request) -> HTMLResponse:
        openapi_url, assets = urls(request)
        return _with_page_headers(get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
            swagger_ui_parameters=SWAGGER_PARAMETERS))

    async def oauth2_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        openapi_url, assets = urls(request)
        return _with_page_headers(get_redoc_html(
            openapi_url=openapi_url, title=f"{app.title} - ReDoc",
            redoc_js_url=f"{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/favicon.png", with_google_fonts=False))

    app.add_route(DOCS_PATH, swagger_ui, include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT_PATH, oauth2_redirect, include_in_schema=False)
    app.add_route(REDOC_PATH, redoc, include_in_schema=False)
