"""Settings from the environment (twelve-factor): every variable the README lists.
A value that cannot be right stops the boot with a message saying so."""

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .addresses import NotAnAddress, parse_address, split_port
from .sources import NAMES

# Where `make geodata` puts the location database: under the app's own folder.
DEFAULT_GEO_DB = (
    Path(__file__).resolve().parent.parent / "geodata" / "dbip-city-lite.mmdb"
)
# DB-IP's monthly IP to City Lite file; {month} is YYYY-MM.
DEFAULT_GEO_DB_URL = "https://download.db-ip.com/free/dbip-city-lite-{month}.mmdb.gz"
# IANA's RDAP bootstrap files (RFC 9224): which registry holds which addresses.
DEFAULT_RDAP_BOOTSTRAP_URL = "https://data.iana.org/rdap/"


class SettingError(ValueError):
    """A setting from the environment that the operator must correct."""


def trusted_proxy_hops(environ: Mapping[str, str]) -> int:
    """How many proxies in front of us append to X-Forwarded-For and are trusted.

    Heroku's router is one (every dyno has DYNO set); with no proxy, none.
    """
    configured = environ.get("TRUSTED_PROXY_HOPS", "").strip()
    if not configured:
        return 1 if environ.get("DYNO") else 0
    if not (configured.isascii() and configured.isdigit()) or int(configured) > 5:
        raise SettingError(
            "TRUSTED_PROXY_HOPS must be a whole number of proxies from 0 to 5, "
            f"not {configured!r}"
        )
    return int(configured)


# "per 0 seconds" or "/0 minutes": `limits` reads a zero as one.
ZERO_WINDOW = re.compile(r"(?:/|\bper)\s*0+\s*[a-z]", re.IGNORECASE)


def parse_rate_limit(text: str, name: str = "RATE_LIMIT") -> str:
    """RATE_LIMIT or LOOKUP_RATE_LIMIT: "60/minute", or several joined by ";";
    empty (or "none", which a Deploy form can say) for none. Every amount and
    window above zero."""
    text = text.strip()
    if text.lower() in ("", "none"):
        return ""
    from limits import parse_many  # only with limits on (see rate_limits)

    try:
        items = parse_many(text)
    except ValueError:
        items = []
    if not items or ZERO_WINDOW.search(text) or any(i.amount < 1 for i in items):
        raise SettingError(
            f"{name} must look like 60/minute or 10/second;1000/day, with amounts "
            f"and windows above zero, not {text!r}"
        )
    return text


def parse_ipv6_prefix(text: str) -> int:
    """RATE_LIMIT_IPV6_PREFIX: how many leading bits of an IPv6 address make one
    client, from a /32 (a whole provider's customer) to a /128 (one address)."""
    text = text.strip()
    if not (text.isascii() and text.isdigit() and 32 <= int(text) <= 128):
        raise SettingError(
            "RATE_LIMIT_IPV6_PREFIX must be a prefix length from 32 to 128, "
            f"not {text!r}"
        )
    return int(text)


def parse_lookups(text: str | None) -> frozenset[str]:
    """LOOKUPS: a comma-separated choice of the sources' names (sources.NAMES).
    Unset (or "all", which a form can hold where "unset" it cannot) means all;
    empty (or "none") means none."""
    if text is None or text.strip().lower() == "all":
        return frozenset(NAMES)
    chosen = {part.strip().lower() for part in text.split(",")} - {"", "none"}
    unknown = chosen - set(NAMES)
    if unknown:
        raise SettingError(
            f"LOOKUPS takes {', '.join(NAMES[:-1])} and {NAMES[-1]}, not "
            f"{', '.join(sorted(unknown))}"
        )
    return frozenset(chosen)


def parse_resolver(part: str) -> tuple[str, int]:
    """ "192.0.2.53", "192.0.2.53:5353", "2001:db8::53" or "[2001:db8::53]:5353"."""
    host, port = split_port(part)
    try:
        address = parse_address(host)
    except NotAnAddress:
        raise SettingError(
            f"DNS_RESOLVER takes IP addresses, each with an optional port, not {part!r}"
        ) from None
    port = "53" if port is None else port
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise SettingError(f"DNS_RESOLVER: {port!r} is not a port, in {part!r}")
    return str(address), int(port)


def parse_resolvers(text: str) -> list[tuple[str, int]]:
    """DNS_RESOLVER, comma-separated; empty for the system's resolvers."""
    return [parse_resolver(part.strip()) for part in text.split(",") if part.strip()]


def parse_timeout(text: str, name: str = "LOOKUP_TIMEOUT") -> float:
    """LOOKUP_TIMEOUT or RDAP_TIMEOUT in seconds: above 0, and well inside the
    router's 30 s."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 10:
        raise SettingError(f"{name} must be seconds between 0 and 10, not {text!r}")
    return seconds


# A host name as DNS has it: dot-separated labels of letters, digits and inner
# hyphens (an internationalised name in its xn-- form).
HOST_NAME = re.compile(
    r"(?=.{1,253}\.?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?",
    re.IGNORECASE,
)
# http(s)://, a host name or IP literal (an IPv6 one in brackets), a port.
SITE_URL = re.compile(r"(https?)://([^/?#@\s\[\]:]+|\[[^/?#@\s\]]+\])(?::(\d{1,5}))?/?")


def parse_site_url(name: str, text: str) -> str | None:
    """IPV4_URL or IPV6_URL: the base URL of this same site under a single-stack
    hostname, such as https://ipv4.example.com: http(s)://host[:port] and
    nothing else, since it goes into the Content-Security-Policy header as it
    is. Returned without a trailing slash."""
    text = text.strip()
    if not text:
        return None
    match = SITE_URL.fullmatch(text)
    if match is None:
        raise SettingError(
            f"{name} must be http(s)://host[:port] and nothing else, not {text!r}"
        )
    scheme, host, port = match.groups()
    if host.startswith("["):
        raise SettingError(
            f"{name}: Chromium refuses an IPv6 literal in a Content-Security-Policy, "
            f"so the page could never reach {host}: use a host name"
        )
    try:
        parse_address(host)
    except NotAnAddress:
        if not HOST_NAME.fullmatch(host) or host.replace(".", "").isdigit():
            raise SettingError(f"{name}: {host!r} is not a host name") from None
    if port is not None and not 0 < int(port) < 65536:
        raise SettingError(f"{name}: {port!r} is not a port")
    return text.rstrip("/")


def parse_redis_url(text: str) -> str | None:
    """REDIS_URL: redis://[user:password@]host[:port][/db], or rediss:// for TLS.
    A wrong one is told without its password."""
    text = text.strip()
    if not text:
        return None
    parts = urlsplit(text)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme not in ("redis", "rediss") or not parts.hostname or not port_ok:
        shown = text.replace(parts.password, "***") if parts.password else text
        raise SettingError(
            "REDIS_URL must look like redis://[:password@]host[:port][/db], or "
            f"rediss:// for TLS, not {shown!r}"
        )
    return text


TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def parse_switch(name: str, text: str) -> bool:
    """A setting that is on or off: 1, true, yes or on; 0, false, no, off or empty."""
    value = text.strip().lower()
    if value not in TRUE + FALSE:
        raise SettingError(
            f"{name} is on (1, true, yes, on) or off (0, false, no, off, empty), "
            f"not {text!r}"
        )
    return value in TRUE


def dual_stack_urls(environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Both IPV4_URL and IPV6_URL, or neither: the page shows the two together."""
    ipv4 = parse_site_url("IPV4_URL", environ.get("IPV4_URL", ""))
    ipv6 = parse_site_url("IPV6_URL", environ.get("IPV6_URL", ""))
    if bool(ipv4) != bool(ipv6):
        raise SettingError("IPV4_URL and IPV6_URL go together: set both, or neither")
    return ipv4, ipv6


def parse_geo_db(text: str) -> Path:
    """GEO_DB: where the location database is read from. It may be missing (the
    site then runs without location), but not something other than a file."""
    path = Path(text.strip() or DEFAULT_GEO_DB)
    if path.exists() and not path.is_file():
        raise SettingError(f"GEO_DB must be the path of an MMDB file, not {text!r}")
    return path


# Where the site or its build fetches data from, and how each URL must look:
# GEO_DB_URL with {month} (YYYY-MM) as its only placeholder, RDAP_BOOTSTRAP_URL
# the folder where IANA's ipv4.json and ipv6.json are.
DATA_URLS = {
    "GEO_DB_URL": (
        DEFAULT_GEO_DB_URL,
        re.compile(r"https?://[^\s/?#@]+/[^\s{}]*(\{month\}[^\s{}]*)?"),
        ", with {month} where the month (YYYY-MM) goes",
    ),
    "RDAP_BOOTSTRAP_URL": (
        DEFAULT_RDAP_BOOTSTRAP_URL,
        re.compile(r"https?://[^\s/?#@]+(/[^\s?#]*)?/"),
        " ending in /, where ipv4.json and ipv6.json are",
    ),
}


def parse_data_url(name: str, text: str) -> str:
    """GEO_DB_URL or RDAP_BOOTSTRAP_URL: an http(s) URL of the shape it needs;
    empty for the default."""
    default, shape, described = DATA_URLS[name]
    text = text.strip() or default
    if not shape.fullmatch(text):
        raise SettingError(f"{name} must be an http(s) URL{described}, not {text!r}")
    return text


def settings_from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    ipv4_url, ipv6_url = dual_stack_urls(environ)
    return {
        "TRUSTED_PROXY_HOPS": trusted_proxy_hops(environ),
        # `make run` sets it so that edits to static/ show on reload.
        "STATIC_AUTOREFRESH": parse_switch(
            "STATIC_AUTOREFRESH", environ.get("STATIC_AUTOREFRESH", "")
        ),
        # Unset or empty: no limit.
        "RATE_LIMIT": parse_rate_limit(environ.get("RATE_LIMIT", "")) or None,
        # Lookups of other addresses: on unless set empty.
        "LOOKUP_RATE_LIMIT": parse_rate_limit(
            environ.get("LOOKUP_RATE_LIMIT", "60/minute"), "LOOKUP_RATE_LIMIT"
        )
        or None,
        "RATE_LIMIT_IPV6_PREFIX": parse_ipv6_prefix(
            environ.get("RATE_LIMIT_IPV6_PREFIX", "64")
        ),
        # Heroku Key-Value Store sets it; unset, each worker counts alone.
        "REDIS_URL": parse_redis_url(environ.get("REDIS_URL", "")),
        "LOOKUPS": parse_lookups(environ.get("LOOKUPS")),
        # Empty: the system's resolvers (/etc/resolv.conf).
        "DNS_RESOLVER": parse_resolvers(environ.get("DNS_RESOLVER", "")),
        "LOOKUP_TIMEOUT": parse_timeout(environ.get("LOOKUP_TIMEOUT", "0.5")),
        # The location database, and where make geodata fetches it from.
        "GEO_DB": parse_geo_db(environ.get("GEO_DB", "")),
        "GEO_DB_URL": parse_data_url("GEO_DB_URL", environ.get("GEO_DB_URL", "")),
        # Who runs an address: where the registries are listed, and how long
        # one may take to answer.
        "RDAP_BOOTSTRAP_URL": parse_data_url(
            "RDAP_BOOTSTRAP_URL", environ.get("RDAP_BOOTSTRAP_URL", "")
        ),
        "RDAP_TIMEOUT": parse_timeout(environ.get("RDAP_TIMEOUT", "3"), "RDAP_TIMEOUT"),
        # This site under a hostname with only an A record, and one with only AAAA.
        "IPV4_URL": ipv4_url,
        "IPV6_URL": ipv6_url,
    }
