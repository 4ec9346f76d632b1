"""Whose address it is (trusted proxies), the one address parser, and where an
address belongs (the IANA special-purpose registries)."""

import ipaddress
import re

import pytest

from whatismyip.addresses import (
    NotAnAddress,
    address_scope,
    client_address,
    forwarded_scheme,
    parse_address,
    shown,
    split_port,
)

ROUTER = "10.1.2.3"  # the peer a dyno sees: Heroku's router


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "hops", "expected"),
    [
        # No proxy: the socket's peer, whatever the header claims.
        ("127.0.0.1", "", 0, "127.0.0.1"),
        ("127.0.0.1", "6.6.6.6", 0, "127.0.0.1"),
        ("203.0.113.9", "6.6.6.6, 7.7.7.7", 0, "203.0.113.9"),
        # Heroku: the router appends the address it saw; trust that one only.
        (ROUTER, "203.0.113.9", 1, "203.0.113.9"),
        (ROUTER, "6.6.6.6, 203.0.113.9", 1, "203.0.113.9"),
        (ROUTER, "6.6.6.6,7.7.7.7,203.0.113.9", 1, "203.0.113.9"),
        (ROUTER, "  203.0.113.9  ", 1, "203.0.113.9"),
        # A CDN in front of Heroku: two hops are trusted, the client's own is not.
        (ROUTER, "6.6.6.6, 203.0.113.9, 198.51.100.1", 2, "203.0.113.9"),
        # Fewer entries than trusted hops: the CDN was bypassed; the router's view.
        (ROUTER, "203.0.113.9", 2, "203.0.113.9"),
        # IPv6, with and without brackets and ports; mapped IPv4 shows as IPv4.
        (ROUTER, "2001:db8::1", 1, "2001:db8::1"),
        (ROUTER, "[2001:db8::1]:4711", 1, "2001:db8::1"),
        (ROUTER, "203.0.113.9:4711", 1, "203.0.113.9"),
        (ROUTER, "::ffff:203.0.113.9", 1, "203.0.113.9"),
        ("::ffff:127.0.0.1", "", 0, "127.0.0.1"),
        ("::1", "", 0, "::1"),
        # Garbage never becomes the IP: the nearest trusted address, else the peer.
        (ROUTER, "not-an-ip", 1, ROUTER),
        (ROUTER, "", 1, ROUTER),
        (ROUTER, ",,,", 1, ROUTER),
        (ROUTER, "unknown", 1, ROUTER),
        (ROUTER, "<script>alert(1)</script>", 1, ROUTER),
        (ROUTER, "203.0.113.9, garbage", 1, ROUTER),
        (ROUTER, "garbage, 198.51.100.1", 2, "198.51.100.1"),
        (ROUTER, "999.1.1.1", 1, ROUTER),
        (ROUTER, "1.2.3.4\x00", 1, ROUTER),
        # A zone (scope ID) means nothing here: not an address the site shows.
        (ROUTER, "fe80::1%eth0", 1, ROUTER),
        (ROUTER, "[fe80::1%25eth0]:443", 1, ROUTER),
        (ROUTER, "2001:db8::1%\r\nX-Evil: 1", 1, ROUTER),
    ],
)
def test_client_address(peer, forwarded_for, hops, expected):
    assert str(client_address(peer, forwarded_for, hops)) == expected


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 2001:DB8::1 ", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
    ],
)
def test_the_one_address_parser(text, address):
    assert str(parse_address(text)) == address


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("fe80::1%eth0", "has a zone (scope ID) after %"),
        ("[fe80::1%1]", "has a zone (scope ID) after %"),
        ("2001:db8::1%\r\n", "has a zone (scope ID) after %"),
        ("192.0.2.1:53", "is not an IP address"),
        ("[2001:db8::1", "is not an IP address"),
        ("x" * 5000, "is not an IP address"),
    ],
)
def test_the_address_parser_says_what_is_wrong(text, reason):
    with pytest.raises(NotAnAddress, match=re.escape(reason)) as refused:
        parse_address(text)
    said = str(refused.value)
    assert "\r" not in said  # written as an escape, never as a control character
    assert "\n" not in said
    assert len(said) < 200  # a long text is cut short


def test_the_address_parser_says_it_in_full():
    with pytest.raises(NotAnAddress) as zoned:
        parse_address("fe80::1%eth0")
    assert str(zoned.value) == (
        "'fe80::1%eth0' has a zone (scope ID) after %, which means nothing off "
        "its own link: give the address alone."
    )
    with pytest.raises(NotAnAddress) as nonsense:
        parse_address("localhost")
    assert str(nonsense.value) == (
        "'localhost' is not an IP address: give one like 8.8.8.8 or "
        "2001:4860:4860::8888."
    )


def test_what_someone_sent_is_quoted_and_cut_to_sixty_characters():
    assert shown("a" * 60) == repr("a" * 60)
    assert shown("a" * 61) == repr("a" * 60 + "…")
    assert shown("x\r\ny") == "'x\\r\\ny'"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("192.0.2.1", ("192.0.2.1", None)),
        ("192.0.2.1:53", ("192.0.2.1", "53")),
        ("2001:db8::1", ("2001:db8::1", None)),
        ("[2001:db8::1]:53", ("2001:db8::1", "53")),
        ("[2001:db8::1]", ("2001:db8::1", None)),
        ("[2001:db8::1]]:53", ("2001:db8::1", "]:53")),  # up to the first "]"
    ],
)
def test_split_port(text, parts):
    assert split_port(text) == parts


def test_client_address_is_none_when_nothing_is_an_address():
    assert client_address("", "garbage", 1) is None


@pytest.mark.parametrize(
    ("forwarded_proto", "hops", "expected"),
    [
        ("https", 1, "https"),
        ("http", 1, "http"),
        ("HTTPS", 1, "https"),
        ("http, https", 1, "https"),  # the rightmost is the trusted router's
        ("http, http, https", 1, "https"),
        ("https,http", 1, "http"),
        ("https, http", 1, "http"),
        ("https", 0, "http"),  # no trusted proxy: the connection's own
        ("", 1, "http"),
        ("javascript", 1, "http"),  # nothing but http or https is believed
        ("https ", 2, "https"),
    ],
)
def test_forwarded_scheme(forwarded_proto, hops, expected):
    assert forwarded_scheme(forwarded_proto, hops, "http") == expected


def test_a_trusted_proxy_that_says_http_is_believed_over_the_connection():
    assert forwarded_scheme("http", 1, "https") == "http"
    assert forwarded_scheme("ftp", 1, "https") == "https"


@pytest.mark.parametrize(
    ("address", "scope"),
    [
        # IPv4: the special-purpose registry, longest prefix first.
        ("8.8.8.8", "public"),
        ("0.1.2.3", "reserved"),
        ("10.0.0.1", "private"),
        ("100.64.0.1", "private"),
        ("127.0.0.1", "loopback"),
        ("169.254.1.1", "link-local"),
        ("172.16.0.1", "private"),
        ("172.32.0.1", "public"),
        ("192.0.0.8", "reserved"),
        ("192.0.0.9", "public"),  # PCP anycast, inside 192.0.0.0/24
        ("192.0.2.1", "reserved"),
        ("192.31.196.1", "public"),
        ("192.88.99.1", "reserved"),
        ("192.168.1.1", "private"),
        ("198.18.0.1", "reserved"),
        ("198.51.100.1", "reserved"),
        ("203.0.113.9", "reserved"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        # IPv6.
        ("2606:4700:4700::1111", "public"),
        ("::", "reserved"),
        ("::1", "loopback"),
        ("fd00::1", "private"),
        ("fe80::1", "link-local"),
        ("fec0::1", "reserved"),  # deprecated site-local: outside 2000::/3
        ("ff02::1", "multicast"),
        ("2001:db8::1", "reserved"),
        ("3fff::1", "reserved"),
        ("2001:2::1", "reserved"),
        ("2001:1::1", "public"),
        ("2001:20::1", "public"),
        ("2620:4f:8000::1", "public"),
        ("64:ff9b:1::1", "private"),
        ("100::1", "reserved"),
        ("4000::1", "reserved"),
        # Addresses that carry an IPv4 address are judged by it.
        ("::ffff:8.8.8.8", "public"),
        ("::ffff:10.0.0.1", "private"),
        ("64:ff9b::a00:1", "private"),  # NAT64 for 10.0.0.1
        ("64:ff9b::808:808", "public"),  # NAT64 for 8.8.8.8
        ("2002:a00:1::1", "private"),  # 6to4 for 10.0.0.1
        ("2002:808:808::1", "public"),  # 6to4 for 8.8.8.8
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "public"),  # Teredo, 8.8.8.8
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"),  # Teredo, 10.0.0.1
    ],
)
def test_address_scope(address, scope):
    assert address_scope(ipaddress.ip_address(address)) == scope
