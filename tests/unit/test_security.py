"""The site's headers middleware and the API's preflight, called directly."""

import sys

import pytest

from whatismyip.web.rate_limits import TellAllowance
from whatismyip.web.security import SiteHeaders, preflight_headers


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
