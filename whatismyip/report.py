"""What we tell a visitor about their request, as JSON-ready data. Pure
functions, no HTTP: the blueprints hand them what the request carried."""

from functools import lru_cache
from urllib.parse import parse_qsl

from .addresses import IPAddress, address_scope


# Scripts send the same query strings again and again: each is parsed once per
# worker (a bounded number of them, at most 8 KB each).
@lru_cache(maxsize=256)
def query_pairs(query_string: str) -> tuple[tuple[str, str], ...]:
    """Every name and value in the order sent.

    Blank values are kept; `+` is a space; malformed percent-escapes are shown
    as written and invalid UTF-8 as U+FFFD.
    """
    return tuple(parse_qsl(query_string, keep_blank_values=True, errors="replace"))


def group_args(pairs: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    """Name -> its values: names in first-seen order, values in order."""
    args: dict[str, list[str]] = {}
    for name, value in pairs:
        args.setdefault(name, []).append(value)
    return args


def readable_header(value: str) -> str:
    """A header value as the client meant it. WSGI hands values over decoded as
    Latin-1; most clients that send anything else send UTF-8, so show that
    where the bytes are valid UTF-8, and the value as received otherwise."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def readable_headers(headers) -> dict[str, str]:
    return {name: readable_header(value) for name, value in headers.items()}


def format_ip(address: IPAddress | None) -> str | None:
    return str(address) if address is not None else None


def describe_address(address: IPAddress | None, facts: dict) -> dict:
    """An address, where it belongs, and what the lookups found about it."""
    scope = address_scope(address)
    return {
        "ip": format_ip(address),
        "ip_version": address.version if address is not None else None,
        "ip_is_global": scope == "public",
        "ip_scope": scope,
        **facts,
    }


def as_lines(answer: dict) -> str:
    """An address's answer (describe_address's) as `name: value` lines for a
    terminal, in the JSON's order and names: null is empty, true and false as
    in JSON, a list comma-separated."""
    lines = []
    for name, value in answer.items():
        if isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value))
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif value is None:
            value = ""
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def build_report(
    address: IPAddress | None, facts: dict, query_string: str, headers: dict[str, str]
) -> dict:
    """Everything we tell a visitor about their request."""
    pairs = query_pairs(query_string)
    return {
        **describe_address(address, facts),
        "args": group_args(pairs),
        "pairs": pairs,
        "query_string": query_string,
        "user_agent": headers.get("User-Agent"),
        "request_id": headers.get("X-Request-Id"),
        "headers": headers,
    }
