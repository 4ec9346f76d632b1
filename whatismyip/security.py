"""The headers every answer of the app carries (static files get whitenoise's)."""

from flask import Flask, request

SECURITY_HEADERS = {
    # Every answer speaks of one visitor's request: no cache may hand it to another.
    "Cache-Control": "no-store",
    "Content-Security-Policy": "; ".join(
        [
            "default-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    ),
    "X-Content-Type-Options": "nosniff",
    # The page's URL holds the visitor's arguments, which may be secrets.
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), "
    "usb=(), clipboard-write=(self)",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def add_security_headers(response):
    response.headers.extend(SECURITY_HEADERS)  # new names: no need to replace
    if request.is_secure:  # only when the trusted router says it was HTTPS
        response.headers["Strict-Transport-Security"] = "max-age=63072000"
    return response


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
