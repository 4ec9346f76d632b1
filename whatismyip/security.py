"""The headers every answer of the app carries (static files get whitenoise's)."""

from urllib.parse import urlsplit

from flask import Flask, request


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


SECURITY_HEADERS = {
    # Every answer speaks of one visitor's request: no cache may hand it to another.
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # The page's URL holds the visitor's arguments, which may be secrets.
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), "
    "usb=(), clipboard-write=(self)",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def init_app(app: Flask) -> None:
    urls = [app.config["IPV4_URL"], app.config["IPV6_URL"]]
    headers = {
        **SECURITY_HEADERS,
        "Content-Security-Policy": content_security_policy(
            [origin(url) for url in urls if url]
        ),
    }

    @app.after_request
    def add_security_headers(response):
        response.headers.extend(headers)  # new names: no need to replace
        if request.is_secure:  # only when the trusted router says it was HTTPS
            response.headers["Strict-Transport-Security"] = "max-age=63072000"
        return response
