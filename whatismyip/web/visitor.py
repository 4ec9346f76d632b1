"""The current request, read once into the terms the rest of the app speaks:
the visitor's address, query string, headers and preferred format. The WSGI
environ is found once through Flask's request proxy and read directly."""

from typing import Any

from flask import current_app, request
from werkzeug.datastructures import EnvironHeaders

from ..addresses import IPAddress, client_address
from ..report import readable_headers
from .negotiation import choose_format

ADDRESS_KEY = "whatismyip.visitor_address"
QUERY_FORMATS = ("json", "text")


def _address(environ: dict[str, Any]) -> IPAddress | None:
    """Worked out once a request (the limiter's key, the report, the page) and
    kept in the request's environ."""
    if ADDRESS_KEY not in environ:
        environ[ADDRESS_KEY] = client_address(
            environ.get("REMOTE_ADDR", ""),
            environ.get("HTTP_X_FORWARDED_FOR", ""),
            current_app.config["TRUSTED_PROXY_HOPS"],
        )
    address: IPAddress | None = environ[ADDRESS_KEY]
    return address


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    return readable_headers(EnvironHeaders(environ))  # type: ignore[arg-type]


def address() -> IPAddress | None:
    return _address(request.environ)


def query_string() -> str:
    return request.query_string.decode("utf-8", "replace")


def headers() -> dict[str, str]:
    return _headers(request.environ)


def asked_ip() -> str | None:
    """The address asked about with ?ip=, as ifconfig.co's scripts send it, as
    written; None without one."""
    if "ip=" not in request.environ.get("QUERY_STRING", ""):
        return None  # most requests: the arguments are never parsed
    return request.args.get("ip")


def format_in_query() -> str | None:
    """ "json" or "text" when the query string says ?format=json or ?format=text,
    as ipify's scripts do; any other value is an ordinary argument."""
    if "format=" not in request.environ.get("QUERY_STRING", ""):
        return None  # most requests: the arguments are never parsed
    asked = request.args.get("format")
    return asked if asked in QUERY_FORMATS else None


def requested_format(query: bool = False) -> str:
    """What the client asked for, or would expect ("html", "json" or "text"):
    with `query`, ?format= decides outright where it names one."""
    environ = request.environ
    return (query and format_in_query()) or choose_format(
        environ.get("HTTP_ACCEPT", ""), environ.get("HTTP_USER_AGENT", "")
    )
