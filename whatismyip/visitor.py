"""The current request, read once into the terms the rest of the app speaks:
the visitor's address, query string, headers and preferred format."""

from flask import current_app, request

from .addresses import IPAddress, client_address
from .lookups import facts_about
from .negotiation import choose_format
from .report import build_report, readable_headers

ADDRESS_KEY = "whatismyip.visitor_address"


def address() -> IPAddress | None:
    """Worked out once a request: the limiter's key, the report and the page.
    Kept in the request's environ, read straight from it (one context lookup
    on the hot path of every answer)."""
    environ = request.environ
    if ADDRESS_KEY not in environ:
        environ[ADDRESS_KEY] = client_address(
            environ.get("REMOTE_ADDR", ""),
            environ.get("HTTP_X_FORWARDED_FOR", ""),
            current_app.config["TRUSTED_PROXY_HOPS"],
        )
    return environ[ADDRESS_KEY]


def query_string() -> str:
    return request.query_string.decode("utf-8", "replace")


def headers() -> dict[str, str]:
    return readable_headers(request.headers)


def report() -> dict:
    visitor = address()
    return build_report(visitor, facts_about(visitor), query_string(), headers())


def requested_format() -> str:
    return choose_format(
        request.headers.get("Accept", ""), request.headers.get("User-Agent", "")
    )
