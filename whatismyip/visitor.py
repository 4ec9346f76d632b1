"""The current request, read once into the terms the rest of the app speaks:
the visitor's address, query string, headers and preferred format. The WSGI
environ is found once through Flask's request proxy and read directly."""

from flask import current_app, request
from werkzeug.datastructures import EnvironHeaders

from .addresses import IPAddress, client_address
from .lookups import facts_about
from .negotiation import choose_format
from .report import build_report, readable_headers

ADDRESS_KEY = "whatismyip.visitor_address"


def _address(environ) -> IPAddress | None:
    """Worked out once a request (the limiter's key, the report, the page) and
    kept in the request's environ."""
    if ADDRESS_KEY not in environ:
        environ[ADDRESS_KEY] = client_address(
            environ.get("REMOTE_ADDR", ""),
            environ.get("HTTP_X_FORWARDED_FOR", ""),
            current_app.config["TRUSTED_PROXY_HOPS"],
        )
    return environ[ADDRESS_KEY]


def _headers(environ) -> dict[str, str]:
    return readable_headers(EnvironHeaders(environ))


def address() -> IPAddress | None:
    return _address(request.environ)


def query_string() -> str:
    return request.query_string.decode("utf-8", "replace")


def headers() -> dict[str, str]:
    return _headers(request.environ)


def report() -> dict:
    environ = request.environ
    visitor = _address(environ)
    return build_report(
        visitor, facts_about(visitor, own=True), query_string(), _headers(environ)
    )


def requested_format() -> str:
    environ = request.environ
    return choose_format(
        environ.get("HTTP_ACCEPT", ""), environ.get("HTTP_USER_AGENT", "")
    )
