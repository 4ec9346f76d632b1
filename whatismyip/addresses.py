"""Whose address is this, and where does it belong? Pure functions, no HTTP."""

import ipaddress
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class NotAnAddress(ValueError):
    """Says what is wrong with something given as an IP address."""


def split_port(text: str) -> tuple[str, str | None]:
    """A host and the port after it, if any: "192.0.2.1:53", "[2001:db8::1]:53"
    and "[2001:db8::1]" each give their parts; a bare IPv6 address has no port."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, rest.removeprefix(":") if rest else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, None


def shown(text: str) -> str:
    """Someone's text, quoted with every control character escaped, and cut
    short: safe in any answer or message."""
    return repr(text[:60] + ("…" if len(text) > 60 else ""))


def parse_address(text: str) -> IPAddress:
    """The site's one address parser: an IPv4 or IPv6 address, an IPv6 one
    optionally in brackets; an IPv4-mapped IPv6 address is the IPv4 address it
    carries. Anything else raises NotAnAddress saying why: a zone (scope ID,
    "fe80::1%eth0") means nothing off the sender's own link, so it is refused
    rather than carried into answers and caches."""
    stripped = text.strip()
    bare = (
        stripped[1:-1]
        if stripped.startswith("[") and stripped.endswith("]")
        else stripped
    )
    if "%" in bare:
        raise NotAnAddress(
            f"{shown(text)} has a zone (scope ID) after %, which means nothing off "
            "its own link: give the address alone."
        )
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        raise NotAnAddress(
            f"{shown(text)} is not an IP address: give one like 8.8.8.8 or "
            "2001:4860:4860::8888."
        ) from None
    return getattr(address, "ipv4_mapped", None) or address


# Each request names its peer and a proxy's entry: the same few strings from a
# worker's recent clients, read once each (bounded) rather than every time.
@lru_cache(maxsize=4096)
def forwarded_address(entry: str) -> IPAddress | None:
    """The address in an X-Forwarded-For entry or a socket peer (a port after it,
    as some proxies add, is dropped), or None."""
    try:
        return parse_address(split_port(entry)[0])
    except NotAnAddress:
        return None


def client_address(peer: str, forwarded_for: str, hops: int) -> IPAddress | None:
    """The address that the first trusted proxy saw the request come from.

    Each trusted proxy appends the address it saw to the right of
    X-Forwarded-For, so only the last `hops` entries can be believed; anything
    to their left was written by the client. If the entry we want is missing
    or malformed, the nearest trusted one is used, and failing that the peer.
    """
    trusted = forwarded_for.split(",")[-hops:] if hops else []
    for candidate in [*trusted, peer]:
        address = forwarded_address(candidate)
        if address is not None:
            return address
    return None


def forwarded_scheme(forwarded_proto: str, hops: int, connection_scheme: str) -> str:
    """The scheme the visitor used: as the nearest trusted proxy reports it in
    X-Forwarded-Proto (the rightmost value, the one it set), else the connection's.
    Nothing but http or https is believed."""
    if hops:
        reported = forwarded_proto.rpartition(",")[2].strip().lower()
        if reported in ("http", "https"):
            return reported
    return connection_scheme


# The IANA special-purpose address registries (IPv4 and IPv6, as of 2025), with
# the scope each block gives an address in it. Written out rather than taken
# from the `ipaddress` module, whose answers change between patch releases.
# The longest matching prefix wins; "embedded" means the block carries an IPv4
# address, which decides the scope.
SPECIAL_PURPOSE_BLOCKS = {
    # IPv4
    "0.0.0.0/8": "reserved",  # "this network"
    "10.0.0.0/8": "private",
    "100.64.0.0/10": "private",  # carrier-grade NAT (RFC 6598)
    "127.0.0.0/8": "loopback",
    "169.254.0.0/16": "link-local",
    "172.16.0.0/12": "private",
    "192.0.0.0/24": "reserved",  # IETF protocol assignments
    "192.0.0.9/32": "public",  # PCP anycast
    "192.0.0.10/32": "public",  # TURN anycast
    "192.0.2.0/24": "reserved",  # documentation
    "192.31.196.0/24": "public",  # AS112
    "192.52.193.0/24": "public",  # AMT
    "192.88.99.0/24": "reserved",  # deprecated 6to4 relay anycast
    "192.168.0.0/16": "private",
    "192.175.48.0/24": "public",  # AS112 direct delegation
    "198.18.0.0/15": "reserved",  # benchmarking
    "198.51.100.0/24": "reserved",  # documentation
    "203.0.113.0/24": "reserved",  # documentation
    "224.0.0.0/4": "multicast",
    "240.0.0.0/4": "reserved",
    "255.255.255.255/32": "reserved",  # limited broadcast
    # IPv6: only 2000::/3 is allocated as global unicast; the rest is reserved
    # unless listed here (which is how fec0::/10, deprecated site-local, ends up).
    "::/0": "reserved",
    "2000::/3": "public",
    "::/128": "reserved",  # unspecified
    "::1/128": "loopback",
    "::ffff:0:0/96": "embedded",  # IPv4-mapped
    "64:ff9b::/96": "embedded",  # NAT64, well-known prefix
    "64:ff9b:1::/48": "private",  # NAT64, local use
    "100::/64": "reserved",  # discard-only
    "100:0:0:1::/64": "reserved",  # dummy prefix
    "2001::/23": "reserved",  # IETF protocol assignments
    "2001::/32": "embedded",  # Teredo
    "2001:1::1/128": "public",  # PCP anycast
    "2001:1::2/128": "public",  # TURN anycast
    "2001:1::3/128": "public",  # DNS-SD service registration anycast
    "2001:2::/48": "reserved",  # benchmarking
    "2001:3::/32": "public",  # AMT
    "2001:4:112::/48": "public",  # AS112
    "2001:10::/28": "reserved",  # deprecated ORCHID
    "2001:20::/28": "public",  # ORCHIDv2
    "2001:30::/28": "public",  # drone remote ID
    "2001:db8::/32": "reserved",  # documentation
    "2002::/16": "embedded",  # 6to4
    "2620:4f:8000::/48": "public",  # AS112 direct delegation
    "3fff::/20": "reserved",  # documentation
    "5f00::/16": "reserved",  # SRv6 segment identifiers
    "fc00::/7": "private",  # unique local
    "fe80::/10": "link-local",
    "ff00::/8": "multicast",
}

# Longest prefix first, so the first block that contains an address decides.
_BLOCKS = sorted(
    (
        (ipaddress.ip_network(block), scope)
        for block, scope in SPECIAL_PURPOSE_BLOCKS.items()
    ),
    key=lambda item: item[0].prefixlen,
    reverse=True,
)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    """The IPv4 address that a mapped, NAT64, 6to4 or Teredo address carries."""
    if address.teredo:
        return address.teredo[1]  # the client's own (public) address
    return address.sixtofour or ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


@lru_cache(maxsize=4096)
def address_scope(address: IPAddress | None) -> str:
    """A one-word answer to "where does this address belong?": public, private,
    loopback, link-local, multicast, reserved, or unknown without an address."""
    if address is None:
        return "unknown"
    scope = "public"  # an IPv4 address outside every special-purpose block
    for network, block_scope in _BLOCKS:
        if address.version == network.version and address in network:
            scope = block_scope
            break
    if scope == "embedded":
        assert isinstance(address, ipaddress.IPv6Address)  # IPv4 is never embedded
        return address_scope(embedded_ipv4(address))
    return scope
