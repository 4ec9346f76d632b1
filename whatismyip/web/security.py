"""The headers every answer of the app carries (static files get whitenoise's):
security headers on all, and CORS on the API's."""

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Flask

from ..addresses import forwarded_scheme
from .rate_limits import ALLOWANCE_HEADERS
from .routing import is_api_path

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(other_origins: list[str]) -> str:
    """Everything from this site alone; fetch() may also reach `other_origins`
    (the single-stack hostnames of IPV4_URL and IPV6_URL), and nothing else."""
    directives = [
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    if other_origins:
        directives.append(" ".join(["connect-src 'self'", *other_origins]))
    return "; ".join(directives)


SECURITY_HEADERS = [
    # Every answer speaks of one visitor's request: no cache may hand it to another.
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    # The page's URL holds the visitor's arguments, which may be secrets.
    ("Referrer-Policy", "no-referrer"),
    (
        "Permissions-Policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), "
        "clipboard-write=(self)",
    ),
    ("Cross-Origin-Opener-Policy", "same-origin"),
]
# Only over HTTPS, as the trusted router reports it.
HSTS = [("Strict-Transport-Security", "max-age=63072000")]
# Any page may read the API, never with credentials, errors included.
CORS = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Expose-Headers", ", ".join(ALLOWANCE_HEADERS)),
]
PREFLIGHT = [
    ("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"),
    ("Access-Control-Max-Age", "86400"),
]


def site_headers(csp: str, https: bool, api: bool) -> list[tuple[str, str]]:
    """The headers every answer gets besides its own: security headers, HSTS
    over HTTPS, and CORS on the API's."""
    headers = [*SECURITY_HEADERS, ("Content-Security-Policy", csp)]
    return headers + (HSTS if https else []) + (CORS if api else [])


def preflight_headers(asked_headers: str) -> list[tuple[str, str]]:
    """What a CORS preflight (OPTIONS) to the API is told besides."""
    if asked_headers:
        return [*PREFLIGHT, ("Access-Control-Allow-Headers", asked_headers)]
    return PREFLIGHT


class SiteHeaders:
    """WSGI middleware in front of the app: sets the scheme the trusted router
    reports (for HSTS and the page's URLs), and adds the site's headers as the
    answer starts. The four possible lists are worked out at boot and one is
    added in one step, a fraction of the cost of setting each header on
    Werkzeug's Headers in an after_request hook. It replaces ProxyFix, whose
    general walk of the forwarded headers the site does not need: it trusts one
    scheme, and works out the address itself (addresses.client_address)."""

    def __init__(self, app: "WSGIApplication", csp: str, hops: int):
        self.app = app
        self.hops = hops
        self.headers = {
            (https, api): site_headers(csp, https, api)
            for https in (False, True)
            for api in (False, True)
        }

    def __call__(
        self, environ: "WSGIEnvironment", start_response: "StartResponse"
    ) -> Iterable[bytes]:
        scheme = environ["wsgi.url_scheme"] = forwarded_scheme(
            environ.get("HTTP_X_FORWARDED_PROTO", ""),
            self.hops,
            environ["wsgi.url_scheme"],
        )
        # The path as Werkzeug reads it, which decides the route.
        api = is_api_path("/" + environ.get("PATH_INFO", "").lstrip("/"))
        extra = self.headers[scheme == "https", api]
        if api and environ["REQUEST_METHOD"] == "OPTIONS":
            asked = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "")
            extra = extra + preflight_headers(asked)

        def start_with_site_headers(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            headers.extend(extra)
            return start_response(status, headers, exc_info)

        return self.app(environ, start_with_site_headers)


def init_app(app: Flask) -> None:
    """Wraps the app itself, inside whitenoise (whose files carry their own
    headers)."""
    urls = [app.config["IPV4_URL"], app.config["IPV6_URL"]]
    csp = content_security_policy([origin(url) for url in urls if url])
    app.wsgi_app = SiteHeaders(  # type: ignore[method-assign]
        app.wsgi_app, csp, app.config["TRUSTED_PROXY_HOPS"]
    )
