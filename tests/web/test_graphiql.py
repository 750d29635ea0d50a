"""GraphiQL offline: the page, its Content-Security-Policy and its vendored files, and the page
working in a real Chromium against a real server, with no request leaving the service's origin."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page

from ecg_graphql.db.embedded import EmbeddedDatabase
from ecg_graphql.web import graphiql
from tests.browser import artifact, chromium, live_server, require_chromium
from tests.harness import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    CREATE_USER,
    LOGIN,
    Api,
    test_settings,
)

HTML = {"accept": "text/html,application/xhtml+xml"}


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


async def test_page_has_csp_and_no_inline_script(api: Api) -> None:
    response = await api.http.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    directives = {
        part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()
    }
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["connect-src"] == ["'self'"]
    assert directives["font-src"] == ["'self'", "data:"]
    assert directives["img-src"] == ["'self'", "data:"]
    assert directives["style-src"] == ["'self'", "'unsafe-inline'"]
    assert "http" not in csp
    assert "*" not in csp

    page = _parse(response.text)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert len(scripts) == 4
    assert all(attrs.get("src") for attrs in scripts)
    assert "".join(page.script_text).strip() == ""
    assert not [
        (tag, name) for tag, attrs in page.tags for name in attrs if name.startswith("on")
    ], "inline event handlers"
    assert "javascript:" not in response.text.lower()
    # Everything the page refers to is on this origin, under the static path (or a data: URL).
    refs = [
        value
        for _, attrs in page.tags
        for name, value in attrs.items()
        if name in ("src", "href") and value is not None
    ]
    assert refs
    for ref in refs:
        assert ref.startswith(graphiql.STATIC_PATH + "/") or ref.startswith("data:"), ref


async def test_every_referenced_file_is_served(api: Api) -> None:
    page = _parse((await api.http.get("/graphql", headers=HTML)).text)
    kinds = {"script": "javascript", "link": "text/css"}
    for tag, attrs in page.tags:
        ref = attrs.get("src") or attrs.get("href")
        if tag not in kinds or ref is None or ref.startswith("data:"):
            continue
        response = await api.http.get(ref)
        assert response.status_code == 200, ref
        assert kinds[tag] in response.headers["content-type"], (ref, response.headers)
        assert len(response.content) > 100, ref


async def test_static_path_serves_nothing_outside_the_vendored_folder(api: Api) -> None:
    for path in ("/../main.py", "/%2e%2e/graphiql.py", "/nope.js"):
        response = await api.http.get(graphiql.STATIC_PATH + path)
        assert response.status_code == 404, path


def test_vendored_files_match_the_manifest_and_carry_licences() -> None:
    manifest = (graphiql.FILES / "VENDORED.md").read_text()
    rows = re.findall(r"^\| `([^`]+)` \| (\S+) \| (\d+) \| `([0-9a-f]{64})` \|$", manifest, re.M)
    assert {name for name, *_ in rows} == {
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
    }
    for name, _package, size, sha256 in rows:
        data = (graphiql.FILES / name).read_bytes()
        assert len(data) == int(size), name
        assert hashlib.sha256(data).hexdigest() == sha256, name
    licences = re.findall(r"^\| (\S+) \| \S+ \| (\S+) \| `licenses/([^`]+)`", manifest, re.M)
    assert len(licences) > 50
    for package, licence, filename in licences:
        assert licence in ("MIT", "BSD-2-Clause", "0BSD"), (package, licence)
        text = (graphiql.FILES / "licenses" / filename).read_text()
        assert "copyright" in text.lower() or "permission" in text.lower(), package
    names = {package for package, *_ in licences}
    assert {"graphiql", "react", "react-dom", "graphql", "codemirror", "scheduler"} <= names


def test_vendored_code_names_no_host_to_load_from() -> None:
    """Fonts are data: URLs, and the only hosts the scripts name are XML namespaces and links in
    error messages (a CDN or font host appearing here after an upgrade fails this test)."""
    css = (graphiql.FILES / "graphiql.min.css").read_text()
    urls = re.findall(r"url\(([^)]*)\)", css)
    assert urls
    assert all(url.strip("'\"").startswith("data:") for url in urls)
    assert "@import" not in css
    assert re.findall(r"https?://([A-Za-z0-9.-]*)", css) == []
    documentation = {"www.w3.org", "github.com", "reactjs.org", "codemirror.net",
                     "commonmark.org", "en.wikipedia.org", ""}
    for name in ("graphiql.min.js", "react.production.min.js", "react-dom.production.min.js",
                 "ecg-graphiql.js"):
        hosts = set(re.findall(r"https?://([A-Za-z0-9.-]*)", (graphiql.FILES / name).read_text()))
        assert hosts <= documentation, (name, hosts - documentation)


# --- In a real browser -------------------------------------------------------------------------


def _sync_gql(origin: str, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(
        f"{origin}/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _editor_text(page: Page, selector: str) -> str:
    # CodeMirror 5 keeps its instance on the element; reading it is not typing into the page.
    text: str = page.locator(selector).evaluate("element => element.CodeMirror.getValue()")
    return text


QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"


def test_graphiql_runs_me_in_chromium_with_every_request_on_the_service(
    embedded_db: EmbeddedDatabase, tmp_path: Path
) -> None:
    require_chromium()
    settings = test_settings(embedded_db.url)
    with live_server(settings) as server:
        admin = _sync_gql(server.origin, LOGIN, {"u": ADMIN_USERNAME, "p": ADMIN_PASSWORD})
        admin_token = admin["login"]["accessToken"]
        username = f"alice{uuid.uuid4().hex[:6]}"
        created = _sync_gql(
            server.origin,
            CREATE_USER,
            {"input": {"username": username, "password": "password-123", "role": "USER"}},
            admin_token,
        )
        assert created["createUser"]["__typename"] == "User"
        token = _sync_gql(server.origin, LOGIN, {"u": username, "p": "password-123"})["login"][
            "accessToken"
        ]

        with chromium(tmp_path / "profile") as browser:
            page = browser.context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            with page.expect_response(
                lambda r: r.url == f"{server.origin}/graphql" and r.request.method == "POST"
            ) as introspection:
                page.goto(f"{server.origin}/graphql")
            assert introspection.value.status == 200
            assert "__schema" in (introspection.value.request.post_data or "")
            page.locator(QUERY_EDITOR).wait_for()
            # The schema arrived: the documentation explorer lists the root types.
            page.get_by_role("button", name=re.compile("documentation explorer", re.I)).click()
            page.get_by_text("Query", exact=True).first.wait_for()

            document = _editor_text(page, QUERY_EDITOR)
            assert "query Me" in document
            assert "me {" in document
            assert "uploadEcg(input:" in document
            page.screenshot(path=artifact("graphiql-loaded.png"), full_page=True)

            # The query is set through the editor; the header is typed, as a person would.
            page.locator(QUERY_EDITOR).evaluate(
                "element => element.CodeMirror.setValue('{ me { username } }')"
            )
            page.get_by_role("button", name="Headers").click()
            page.locator(HEADERS_EDITOR).click()
            page.keyboard.type(json.dumps({"Authorization": f"Bearer {token}"}))
            headers_text = _editor_text(page, HEADERS_EDITOR)
            assert json.loads(headers_text) == {"Authorization": f"Bearer {token}"}, headers_text

            with page.expect_response(
                lambda r: r.url == f"{server.origin}/graphql"
                and r.request.method == "POST"
                and "me" in (r.request.post_data or "")
                and "__schema" not in (r.request.post_data or "")
            ) as answer:
                page.locator(".graphiql-execute-button").click()
            assert answer.value.request.headers.get("authorization") == f"Bearer {token}"
            assert answer.value.json() == {"data": {"me": {"username": username}}}
            response_pane = page.locator(".graphiql-response")
            response_pane.get_by_text(username).wait_for()
            assert '"username"' in response_pane.inner_text()
            page.screenshot(path=artifact("graphiql-me.png"), full_page=True)

            requests = [(r.method, r.url) for r in browser.requests]
            failed = [
                (r.url, response.status if response else None)
                for r in browser.requests
                if (response := r.response()) is None or response.status >= 400
            ]
            console = list(browser.console)

    assert errors == []
    assert failed == []
    assert requests, "no request recorded"
    off_origin = [url for _, url in requests if not url.startswith(server.origin + "/")]
    assert off_origin == [], off_origin
    loaded = {url.removeprefix(server.origin) for method, url in requests if method == "GET"}
    assert {
        f"{graphiql.STATIC_PATH}/graphiql.min.js",
        f"{graphiql.STATIC_PATH}/react.production.min.js",
        f"{graphiql.STATIC_PATH}/ecg-graphiql.js",
        f"{graphiql.STATIC_PATH}/graphiql.min.css",
    } <= loaded
    assert not [line for line in console if "Content Security Policy" in line], console
