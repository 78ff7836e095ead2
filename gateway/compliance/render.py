"""The report as HTML (one self-contained page: inline style, no script, nothing fetched) and as
PDF, printed from that page by Debian's Chromium through Playwright."""

from __future__ import annotations

import importlib.util
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
CHROMIUM = Path(os.environ.get("GATEWAY_CHROMIUM", "/usr/bin/chromium"))

_env = Environment(loader=FileSystemLoader(TEMPLATES),
                   autoescape=select_autoescape(["html", "j2"]),
                   trim_blocks=True, lstrip_blocks=True)


def render_html(report: dict[str, Any]) -> str:
    return _env.get_template("report.html.j2").render(r=report)


def pdf_unavailable() -> str | None:
    """Why no PDF can be printed here, or None."""
    if not CHROMIUM.is_file():
        return f"no Chromium at {CHROMIUM}"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed"
    return None


def render_pdf(html_path: Path, pdf_path: Path) -> None:
    """Print in a thread of its own: Playwright's sync API refuses to start in a thread that
    already runs an event loop (a caller's, or another Playwright session's)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(_print_pdf, html_path, pdf_path).result()


def _print_pdf(html_path: Path, pdf_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            page = browser.new_page()
            # Nothing may leave the page: a request to any URL but the file itself fails.
            page.route("**/*", lambda route: route.continue_()
                       if route.request.url == html_path.resolve().as_uri() else route.abort())
            page.goto(html_path.resolve().as_uri())
            page.pdf(path=str(pdf_path), format="A4", print_background=True,
                     margin={"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"})
        finally:
            browser.close()
