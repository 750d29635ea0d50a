"""GraphiQL served from the package's own files, so `GET /graphql` works without internet.

Every script and style comes from `STATIC_PATH` on this service (vendored in `graphiql/`, see its
VENDORED.md); the page carries a Content-Security-Policy that allows only this origin, `data:` for
fonts and images, and inline styles (GraphiQL's editors set `style` attributes). The page has no
inline script: its start-up code is `graphiql/ecg-graphiql.js`.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC_PATH = "/static/graphiql"
FILES = Path(__file__).resolve().parent / "graphiql"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    )
)

# React first (the GraphiQL UMD bundle reads window.React and window.ReactDOM), our start-up last.
_SCRIPTS = (
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "ecg-graphiql.js",
)
_STYLES = ("graphiql.min.css", "ecg-graphiql.css")


def page_html() -> str:
    """The GraphiQL page: only external scripts and styles, all under `STATIC_PATH`."""
    base = escape(STATIC_PATH, quote=True)
    styles = "\n".join(f'    <link rel="stylesheet" href="{base}/{name}">' for name in _STYLES)
    scripts = "\n".join(f'    <script defer src="{base}/{name}"></script>' for name in _SCRIPTS)
    return f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>ecg-graphql · GraphiQL</title>
    <link rel="icon" href="data:,">
{styles}
{scripts}
  </head>
  <body>
    <div id="graphiql">Loading GraphiQL…</div>
  </body>
</html>
"""


def page_response() -> HTMLResponse:
    """The page with its security headers; not cached, so a new release's page is picked up."""
    return HTMLResponse(
        page_html(),
        headers={
            "content-security-policy": CONTENT_SECURITY_POLICY,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "cache-control": "no-cache",
        },
    )


def static_files() -> StaticFiles:
    """The ASGI app serving the vendored files, to mount at `STATIC_PATH`."""
    return StaticFiles(directory=FILES)
