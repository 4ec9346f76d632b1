"""The API contract, the security headers, CORS, cookies and hostile input,
through the test client."""

import hashlib
import re
import shutil
import stat
import tempfile
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from support.clients import BROWSER
from support.serving import ROOT
from whatismyip.web.routing import is_api_path
from whatismyip.web.static_files import collect_static, hashed_name


def test_every_api_route_is_in_the_openapi_document(app, client):
    document = client.get("/api/openapi.json").json
    assert document["openapi"].startswith("3.1")
    routes = {
        # Flask's <address> or <address:address>, OpenAPI's {address}
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if is_api_path(rule.rule)
    }
    assert routes == set(document["paths"])


def test_the_api_page_is_in_the_site_layout_and_names_every_route(client):
    page = client.get("/docs", headers=BROWSER)
    assert page.status_code == 200
    assert 'rel="stylesheet" href="/static/style.' in page.text
    for path in ["/api", "/api/ip", "/api/args", "/api/headers", "/get_my_ip/"]:
        assert f"<code>GET {path}</code>" in page.text
    assert "<code>pairs</code>" in page.text


@pytest.mark.parametrize("path", ["/", "/docs", "/nope", "/api", "/api/nope"])
def test_security_headers(client, path):
    headers = client.get(path, headers=BROWSER).headers
    assert {name: headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS
    assert "Strict-Transport-Security" not in headers  # plain local HTTP


SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), "
    "usb=(), clipboard-write=(self)",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
}


def test_the_page_has_no_inline_script_or_style(client):
    page = client.get("/", headers=BROWSER).text
    assert "<style" not in page
    assert " style=" not in page
    assert "<script>" not in page  # every script has a src
    assert not re.search(r"<[^>]+\son[a-z]+=", page)  # no inline event handlers


def test_hsts_from_the_app_only_when_the_trusted_router_says_https(make_app):
    behind_router = make_app(TRUSTED_PROXY_HOPS=1).test_client()
    answer = behind_router.get("/", headers={**BROWSER, "X-Forwarded-Proto": "https"})
    assert answer.headers["Strict-Transport-Security"] == "max-age=63072000"
    plain = behind_router.get("/", headers={**BROWSER, "X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" not in plain.headers


def test_static_files_are_nosniff_too(client):
    response = client.get("/static/style.css")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/api", "/api/ip", "/api/headers", "/get_my_ip/"])
def test_the_api_allows_cross_origin_reads_without_credentials(client, path):
    origin = {"Origin": "https://elsewhere.example"}
    response = client.get(path, headers=origin)
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    preflight = client.options(
        path,
        headers={
            **origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-custom, content-type",
        },
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert preflight.headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert preflight.headers["Access-Control-Max-Age"] == "86400"
    assert preflight.headers["Access-Control-Allow-Headers"] == "x-custom, content-type"
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    bare = client.options(
        path, headers={**origin, "Access-Control-Request-Method": "GET"}
    )
    assert "Access-Control-Allow-Headers" not in bare.headers  # none asked for
    assert bare.headers["Access-Control-Max-Age"] == "86400"


def test_pages_are_not_open_to_cross_origin_reads(client):
    response = client.get("/", headers={"Origin": "https://x.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options(
        "/",
        headers={
            "Origin": "https://x.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-custom",
        },
    )
    for name in ("Allow-Origin", "Allow-Methods", "Allow-Headers", "Max-Age"):
        assert f"Access-Control-{name}" not in preflight.headers


def test_no_answer_sets_a_cookie_and_a_sent_one_changes_nothing(app):
    """The site keeps no session: a session cookie, even one that looks like
    Flask's, is only another header the visitor sent."""
    plain, with_cookie = app.test_client(), app.test_client()
    with_cookie.set_cookie("session", "eyJhIjoxfQ.forged.sig")
    for path in ("/", "/api", "/api/ip", "/docs", "/nope"):
        answers = [client.get(path, headers=BROWSER) for client in (plain, with_cookie)]
        assert answers[0].status_code == answers[1].status_code
        assert not any("Set-Cookie" in answer.headers for answer in answers)
    report = with_cookie.get("/api").json
    assert report["headers"]["Cookie"] == "session=eyJhIjoxfQ.forged.sig"


TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)


@settings(
    max_examples=150,
    deadline=None,
    database=None,  # nothing written into the working tree
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(pairs=st.lists(st.tuples(TEXT, TEXT), max_size=12))
def test_api_reports_exactly_the_pairs_a_browser_encoded(client, pairs):
    """Whatever names and values a form sends, percent-encoded as browsers and
    urlencode do, come back exactly, in order, grouped by name."""
    # ?ip= on /api is ifconfig.co's lookup of that address (README: the peers'
    # URLs); the arguments' own routes echo it like any other name (below).
    assume(all(name != "ip" for name, _ in pairs))
    query = urlencode(pairs, quote_via=quote)
    report = client.get(f"/api?{query}").json
    assert report["pairs"] == [list(pair) for pair in pairs]
    grouped = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    assert report["args"] == grouped
    assert list(report["args"]) == list(grouped)
    assert report["query_string"] == query


def test_an_argument_named_ip_is_echoed_where_it_names_no_lookup(client):
    assert client.get("/api/args?ip=x&ip=").json == {"args": {"ip": ["x", ""]}}
    page = client.get("/?ip=x", headers=BROWSER).text
    assert "<tr><td>ip</td><td>x</td></tr>" in page
    assert client.get("/api?ip=x").status_code == 400  # a lookup of no address


def test_a_folder_planted_where_static_files_were_built_is_never_served(
    make_app, tmp_path, monkeypatch
):
    """Static files were once built under a name anyone could work out in the
    shared temporary directory, and a folder already there was served as it
    was, cached as immutable. Plant one there, as another local user could.
    The temporary directory is this test's own, so that no other process
    building static files at the same time is mistaken for this app."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    collect_static.cache_clear()  # this app's build, not the process's
    source = ROOT / "static"
    names = {
        path.relative_to(source).as_posix(): hashed_name(
            path.relative_to(source).as_posix(), path.read_bytes()
        )
        for path in sorted(source.rglob("*"))
        if path.is_file()
    }
    build_id = hashlib.sha256(repr(sorted(names.items())).encode()).hexdigest()[:12]
    planted = Path(tempfile.gettempdir()) / f"whatismyip-static-{build_id}"
    planted.mkdir(exist_ok=True)
    builds = set(planted.parent.glob("whatismyip-static-*"))
    try:
        for name in (names["app.js"], "app.js"):
            (planted / name).write_text("alert('planted')")
        client = make_app().test_client()
        served = client.get(f"/static/{names['app.js']}")
        assert served.status_code == 200
        assert served.data == (source / "app.js").read_bytes()
    finally:
        shutil.rmtree(planted)
    # The app built its own: a new folder, that no one else may enter.
    (root,) = set(planted.parent.glob("whatismyip-static-*")) - builds
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
