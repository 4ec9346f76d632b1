"""The API contract (schemathesis), hostile headers and every method on every
route, against the site booted from its Procfile."""

import http.client
import json
import subprocess
from urllib.parse import quote

import pytest
import requests

from support.clients import BROWSER
from support.serving import BIN, send_raw, status_of

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
XSS = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


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
