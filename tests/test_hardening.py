"""The API contract, the security headers and hostile input, against the site
booted from its Procfile."""

import hashlib
import http.client
import json
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import requests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from serving import BIN, ROOT, send_raw, status_of
from whatismyip.api import is_api_path
from whatismyip.rate_limits import TellAllowance
from whatismyip.security import SiteHeaders, preflight_headers
from whatismyip.static_files import hashed_name

ROUTES = [
    "/",
    "/ip",
    "/api",
    "/api/ip",
    "/api/args",
    "/api/headers",
    "/api/openapi.json",
    "/get_my_ip/",
    "/healthz",
    "/docs",
    "/edit",
    "/manifest.webmanifest",
]
BROWSER = {"Accept": "text/html", "User-Agent": "Mozilla/5.0"}
XSS = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


# --- The contract ---------------------------------------------------------------


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


def test_schemathesis_finds_nothing_with_every_check(start_server, tmp_path):
    # Its thousand requests would spend the lookup allowance in the first
    # sixty, and leave the lookups behind it untested; a registry that hangs
    # would make each of its questions wait.
    server = start_server(LOOKUP_RATE_LIMIT="none", RDAP_TIMEOUT="0.5")
    result = subprocess.run(
        [
            BIN / "schemathesis",
            "run",
            f"{server.url}/api/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "60",
            "--seed",
            "20261124",
        ],
        cwd=tmp_path,  # schemathesis leaves its report files there
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "No issues found" in result.stdout


def test_the_api_page_is_in_the_site_layout_and_names_every_route(client):
    page = client.get("/docs", headers=BROWSER)
    assert page.status_code == 200
    assert 'rel="stylesheet" href="/static/style.' in page.text
    for path in ["/api", "/api/ip", "/api/args", "/api/headers", "/get_my_ip/"]:
        assert f"<code>GET {path}</code>" in page.text
    assert "<code>pairs</code>" in page.text


# --- Headers --------------------------------------------------------------------


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


def test_hsts_only_over_https_through_the_trusted_router(heroku, local, dyno):
    through_router = requests.get(f"{heroku.url}/", headers=BROWSER, timeout=10)
    assert through_router.headers["Strict-Transport-Security"].startswith("max-age=")
    assert f"https://{heroku.url.removeprefix('http://')}/api" in through_router.text
    for forged in (local, dyno):  # no trusted hop on local; no router on dyno
        response = requests.get(
            f"{forged.url}/",
            headers={**BROWSER, "X-Forwarded-Proto": "http"},
            timeout=10,
        )
        assert "Strict-Transport-Security" not in response.headers
    spoofed = requests.get(
        f"{local.url}/", headers={**BROWSER, "X-Forwarded-Proto": "https"}, timeout=10
    )
    assert "Strict-Transport-Security" not in spoofed.headers


def test_hsts_from_the_app_only_when_the_trusted_router_says_https(make_app):
    behind_router = make_app(TRUSTED_PROXY_HOPS=1).test_client()
    answer = behind_router.get("/", headers={**BROWSER, "X-Forwarded-Proto": "https"})
    assert answer.headers["Strict-Transport-Security"] == "max-age=63072000"
    plain = behind_router.get("/", headers={**BROWSER, "X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" not in plain.headers


def test_a_preflight_allows_exactly_the_headers_asked_for():
    assert preflight_headers("X-Custom, Content-Type") == [
        ("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"),
        ("Access-Control-Max-Age", "86400"),
        ("Access-Control-Allow-Headers", "X-Custom, Content-Type"),
    ]
    assert preflight_headers("") == [
        ("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"),
        ("Access-Control-Max-Age", "86400"),
    ]


def failing_app(environ, start_response):
    """A WSGI app that reports its own failure, as PEP 3333 has it."""
    try:
        raise ValueError("broken")
    except ValueError:
        start_response("500 Internal Server Error", [], sys.exc_info())
    return [b""]


def test_a_request_without_a_path_is_no_api_request():
    """PEP 3333 lets a server leave PATH_INFO out for the application's root."""
    told = []
    environ = {"wsgi.url_scheme": "http", "REQUEST_METHOD": "GET"}
    SiteHeaders(failing_app, "default-src 'self'", 0)(
        environ, lambda *args: told.append(args)
    )
    ((_, headers, _),) = told
    assert ("Access-Control-Allow-Origin", "*") not in headers


@pytest.mark.parametrize(
    "middleware",
    [lambda app: SiteHeaders(app, "default-src 'self'", 0), TellAllowance],
)
def test_the_middlewares_pass_a_failure_on_to_the_server(middleware):
    told = []
    environ = {"wsgi.url_scheme": "http", "REQUEST_METHOD": "GET", "PATH_INFO": "/"}
    middleware(failing_app)(environ, lambda *args: told.append(args))
    ((status, _, exc_info),) = told
    assert status.startswith("500")
    assert exc_info[0] is ValueError


def test_gunicorn_acts_on_no_forwarded_header(local, dyno):
    """Only the app reads forwarded headers: what gunicorn would take from them by
    default (the scheme, and a root from SCRIPT_NAME) changes nothing."""
    forged = {
        "X-Forwarded-Ssl": "on",
        "X-Forwarded-Protocol": "ssl",
        "SCRIPT_NAME": "/forged",
        "PATH_INFO": "/forged",
    }
    for server in (local, dyno):
        response = requests.get(
            f"{server.url}/", headers={**BROWSER, **forged}, timeout=10
        )
        assert response.status_code == 200
        assert "Strict-Transport-Security" not in response.headers
        assert f"curl {server.url}/api?name=value" in response.text
        assert "/forged" not in response.text


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


# --- Hostile input --------------------------------------------------------------


def test_a_long_query_that_fits_the_router_is_served(local):
    query = "&".join(f"k{i}=v" for i in range(1800))[:8000]
    response = requests.get(f"{local.url}/api?{query}", timeout=10)
    assert response.status_code == 200
    assert response.json()["query_string"] == query


def test_hundreds_of_args(local):
    pairs = [(f"key{i % 150}", str(i)) for i in range(600)]
    response = requests.get(f"{local.url}/api", params=pairs, timeout=10)
    assert response.status_code == 200
    report = response.json()
    assert len(report["args"]) == 150
    assert report["pairs"] == [list(pair) for pair in pairs]


def test_nul_and_control_characters_are_reported_not_obeyed(local):
    response = requests.get(
        f"{local.url}/api",
        params={"nul\x00": "a\x00b", "ctl": "\x01\x1b[31m\x7f"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["args"] == {
        "nul\x00": ["a\x00b"],
        "ctl": ["\x01\x1b[31m\x7f"],
    }
    page = requests.get(
        f"{local.url}/", params={"k": "\x00<b>"}, headers=BROWSER, timeout=10
    )
    assert page.status_code == 200
    assert "&lt;b&gt;" in page.text


def test_crlf_in_values_never_becomes_a_header(local):
    injection = "x\r\nX-Injected: yes\r\nSet-Cookie: a=b"
    for url in (f"{local.url}/edit", f"{local.url}/"):
        response = requests.get(
            url,
            params={"name": injection, "value": injection},
            headers=BROWSER,
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code in (200, 303)
        assert "X-Injected" not in response.headers
        assert "Set-Cookie" not in response.headers
        assert "\r" not in response.headers.get("Location", "")


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


def test_invalid_utf8_and_percent_encoding_everywhere(local):
    for path in ["/", "/api", "/api/args", "/edit", "/nope%FF", "/%ZZ"]:
        answer = send_raw(
            local.url,
            f"GET {path}?%FF%FE=%C3%28&%=%%&k%ZZ=%E2%82 HTTP/1.1\r\nHost: x\r\n"
            "Connection: close\r\n\r\n".encode(),
        )
        assert status_of(answer) < 500, path
        body = answer.split(b"\r\n\r\n", 1)[1]
        if path.startswith("/api"):
            json.loads(body)  # still valid JSON


METHODS = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "OPTIONS",
    "TRACE",
    "PROPFIND",
]


@pytest.mark.parametrize("path", ROUTES)
def test_every_method_on_every_route(local, path):
    for method in METHODS:
        connection = http.client.HTTPConnection("127.0.0.1", local.port, timeout=10)
        connection.request(
            method, path, body=b"x=1" if method in ("POST", "PUT") else None
        )
        response = connection.getresponse()
        body = response.read()
        connection.close()
        expected = {"GET": 200, "HEAD": 200, "OPTIONS": 200}.get(method, 405)
        if path == "/edit" and method in ("GET", "HEAD"):
            expected = 303
        assert response.status == expected, (method, path, response.status)
        if expected == 405:
            assert "GET" in response.getheader("Allow")
            if path.startswith(("/api", "/get_my_ip")):
                assert json.loads(body)["error"]["status"] == 405


@pytest.mark.parametrize(
    "headers",
    [
        {"Accept": ";;;q=,,,/*/*;q=abc"},
        {"Accept": "application/json;q=2, text/plain;q=-1"},
        {"Accept": "\u00ff\u00fe/\u00ff"},
        {"Host": XSS.replace(" ", "")},
        {"Host": "[::1"},
        {"Host": ""},
        {"X-Forwarded-For": XSS},
        {"X-Forwarded-For": "," * 500},
        {"X-Forwarded-Proto": "javascript"},
        {"X-Forwarded-Port": "-1"},
        {"X-Forwarded-Host": XSS},
        {"User-Agent": XSS, "Referer": XSS, "X-Custom": XSS},
    ],
)
@pytest.mark.parametrize("path", ["/", "/api", "/docs"])
def test_malformed_and_hostile_headers(local, dyno, headers, path):
    for server in (local, dyno):
        response = requests.get(
            f"{server.url}{path}", headers={**BROWSER, **headers}, timeout=10
        )
        assert response.status_code < 500
        if response.headers["Content-Type"].startswith("text/html"):
            assert "<script>alert(1)</script>" not in response.text
            assert "onerror=alert(2)>" not in response.text
        else:  # JSON reports what was sent as data, never as markup
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            report = response.json()
            if path == "/api" and response.status_code == 200:
                assert report["ip"] == "127.0.0.1"


def test_xss_in_the_path_is_escaped(local):
    response = requests.get(f"{local.url}/{quote(XSS)}", headers=BROWSER, timeout=10)
    assert response.status_code == 404
    assert "<script>" not in response.text


# --- Property: any form's names and values are reported exactly ---------------------

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
