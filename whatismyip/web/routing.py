"""Addresses in URLs, and which paths are the API's."""

from werkzeug.exceptions import BadRequest
from werkzeug.routing import BaseConverter, ValidationError

from ..addresses import IPAddress, NotAnAddress, parse_address


def parse_lookup_address(text: str) -> IPAddress:
    """The address a visitor asked about, or a 400 that says what was wrong."""
    try:
        return parse_address(text)
    except NotAnAddress as error:
        raise BadRequest(str(error)) from None


class AddressConverter(BaseConverter):
    """`<address:…>` in a route: a path segment that parses as an IP address
    (ipinfo.io's /8.8.8.8); anything else leaves the route unmatched, a 404."""

    regex = r"[0-9A-Fa-f:.]+"

    def to_python(self, value: str) -> IPAddress:
        try:
            return parse_address(value)
        except NotAnAddress:
            raise ValidationError from None


def is_api_path(path: str) -> bool:
    """/api, anything under /api/, the article's /get_my_ip/ and the JSON
    answers at /json and /<address>/json are the API; /apiary and /get_my_ipx
    are not."""
    return (
        path in ("/api", "/json", "/get_my_ip", "/get_my_ip/")
        or path.startswith("/api/")
        or path.endswith("/json")
    )


def any_of(names: object) -> str:
    """A route part matching exactly one of `names`."""
    return f"any({', '.join(map(repr, names))})"  # type: ignore[call-overload]
