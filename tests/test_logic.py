"""Fast, table-driven tests of the logic that is not about HTTP."""

import contextlib
import importlib.util
import ipaddress
import json
import os
import re
import signal
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving import ROOT
from whatismyip import create_app
from whatismyip.addresses import (
    NotAnAddress,
    address_scope,
    client_address,
    forwarded_scheme,
    parse_address,
    shown,
    split_port,
)
from whatismyip.config import SettingError, dual_stack_urls, trusted_proxy_hops
from whatismyip.negotiation import choose_format
from whatismyip.report import build_report, group_args, query_pairs, readable_header

ROUTER = "10.1.2.3"  # the peer a dyno sees: Heroku's router

CURL = "curl/8.5.0"
WGET = "Wget/1.21.4"
HTTPIE = "HTTPie/3.2.2"
POWERSHELL = (
    "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.22621.2506"
)
PWSH7 = (
    "Mozilla/5.0 (Windows NT 10.0; Microsoft Windows 10.0.22631; en-US) "
    "PowerShell/7.4.1"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
FIREFOX_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
CHROME_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)


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
    ("environ", "expected"),
    [
        ({}, 0),
        ({"DYNO": "web.1"}, 1),
        ({"DYNO": "web.1", "TRUSTED_PROXY_HOPS": "2"}, 2),
        ({"DYNO": "web.1", "TRUSTED_PROXY_HOPS": "0"}, 0),
        ({"TRUSTED_PROXY_HOPS": " 1 "}, 1),
        ({"TRUSTED_PROXY_HOPS": ""}, 0),
    ],
)
def test_trusted_proxy_hops(environ, expected):
    assert trusted_proxy_hops(environ) == expected


@pytest.mark.parametrize("value", ["-1", "two", "1.5", "0x2"])
def test_trusted_proxy_hops_refuses_nonsense(value):
    with pytest.raises(ValueError, match="TRUSTED_PROXY_HOPS"):
        trusted_proxy_hops({"TRUSTED_PROXY_HOPS": value})


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


@pytest.mark.parametrize(
    ("query_string", "expected"),
    [
        ("", {}),
        ("a=1", {"a": ["1"]}),
        ("b=2&a=1&b=3", {"b": ["2", "3"], "a": ["1"]}),
        ("a=&b", {"a": [""], "b": [""]}),
        ("q=hello+world", {"q": ["hello world"]}),
        ("q=%2B1", {"q": ["+1"]}),
        ("city=M%C3%BCnchen&%E2%9C%93=yes", {"city": ["München"], "✓": ["yes"]}),
        ("bad=%ZZ&half=%4", {"bad": ["%ZZ"], "half": ["%4"]}),
        ("latin1=%FF", {"latin1": ["\ufffd"]}),
        ("x=%3Cscript%3E", {"x": ["<script>"]}),
        ("a=1;b=2", {"a": ["1;b=2"]}),
        ("&&a=1&&", {"a": ["1"]}),
        ("=v", {"": ["v"]}),
    ],
)
def test_query_args(query_string, expected):
    args = group_args(query_pairs(query_string))
    assert args == expected
    assert list(args) == list(expected)  # first-seen order


@pytest.mark.parametrize(
    ("accept", "user_agent", "expected"),
    [
        # Browsers get the page.
        (FIREFOX_ACCEPT, FIREFOX, "html"),
        (CHROME_ACCEPT, CHROME, "html"),
        ("", FIREFOX, "html"),
        ("*/*", FIREFOX, "html"),
        ("text/*", FIREFOX, "html"),
        # Scripts never get HTML they did not name: text, or JSON if they ask.
        ("*/*", "python-requests/2.32.3", "text"),
        ("", "Go-http-client/1.1", "text"),
        ("", "", "text"),
        ("text/*", "", "text"),
        ("*/*, text/plain;q=0.5", "okhttp/4.12.0", "json"),
        ("text/html", "python-requests/2.32.3", "html"),
        # Command-line clients get the bare address, unless they ask otherwise.
        ("*/*", CURL, "text"),
        ("", CURL, "text"),
        ("*/*", WGET, "text"),
        ("application/json, */*;q=0.5", HTTPIE, "json"),
        ("*/*", HTTPIE, "text"),
        ("*/*", "xh/0.22.0", "text"),
        ("", POWERSHELL, "text"),
        ("", PWSH7, "text"),
        ("application/json", CURL, "json"),
        ("text/html", CURL, "html"),
        # Accept decides, with q-values and parameters read properly.
        ("application/json", FIREFOX, "json"),
        ("application/json; charset=utf-8", "", "json"),
        ("Application/JSON", "", "json"),
        ("application/*", "", "json"),
        ("text/plain", FIREFOX, "text"),
        ("text/plain;charset=UTF-8", "", "text"),
        ("text/plain;q=0.5, application/json;q=0.9", "", "json"),
        ("application/json;charset=UTF-8;q=0.9, text/plain;q=0.5", "", "json"),
        ("text/html;q=0.1, text/plain", "", "text"),
        ("text/*, text/plain;q=0", FIREFOX, "html"),
        ("*/*;q=0.1, application/json", "", "json"),
        # A named type beats a wildcard of the same quality.
        ("*/*, application/json", "", "json"),
        ("*/*, text/plain", FIREFOX, "text"),
        ("application/json;q=0, */*", FIREFOX, "html"),
        ("application/json;q=0, */*", "", "text"),
        # The most specific range decides a type's quality, wherever it stands.
        ("*/*, text/*;q=0.5", FIREFOX, "json"),
        ("*, text/*;q=0.5", FIREFOX, "json"),
        ("text/*, text/plain;q=0.1", FIREFOX, "html"),
        ("text/*, text/plain;q=0.1", CURL, "text"),
        # The exact type's own quality counts, not a wildcard's before it.
        ("text/*;q=0.5, text/plain;q=0.1, application/json;q=0.3", "", "json"),
        # Of two ranges as specific as each other, the higher quality counts.
        ("text/html;q=0.2, text/html;q=0.8, application/json;q=0.5", "", "html"),
        # A range for another type lends nobody its quality.
        ("image/png, application/json;q=0.5", FIREFOX, "json"),
        # Nothing acceptable, or nonsense: fall back to what the client is.
        ("image/png", FIREFOX, "html"),
        ("image/png", "", "text"),
        ("image/png", CURL, "text"),
        ("garbage;;;q=abc, ,,", FIREFOX, "html"),
        ("garbage;;;q=abc, ,,", "", "text"),
        ("text/html;q=2", CURL, "text"),
        ("application/json;q=0", FIREFOX, "html"),
        ("application/json;q=0", "", "text"),
        # PowerShell's User-Agent begins like a browser's.
        ("*/*", POWERSHELL, "text"),
    ],
)
def test_choose_format(accept, user_agent, expected):
    assert choose_format(accept, user_agent) == expected


def test_build_report_fields():
    headers = {"User-Agent": "curl/8.5.0", "X-Request-Id": "abc-123"}
    facts = {"country": None, "hostname": "documentation.example"}
    report = build_report(ipaddress.ip_address("2001:db8::1"), facts, "a=1&a=", headers)
    assert report == {
        "ip": "2001:db8::1",
        "ip_version": 6,
        "ip_is_global": False,
        "ip_scope": "reserved",
        "country": None,
        "hostname": "documentation.example",
        "args": {"a": ["1", ""]},
        "pairs": (("a", "1"), ("a", "")),
        "query_string": "a=1&a=",
        "user_agent": "curl/8.5.0",
        "request_id": "abc-123",
        "headers": headers,
    }


def test_build_report_without_an_address():
    report = build_report(None, {}, "", {})
    assert report["ip"] is None
    assert report["ip_scope"] == "unknown"
    assert report["user_agent"] is None


@pytest.mark.parametrize(
    ("received", "shown"),
    [
        ("caf\u00c3\u00a9", "café"),  # UTF-8 bytes, as WSGI hands them over
        ("caf\u00e9", "caf\u00e9"),  # Latin-1 that is not valid UTF-8: as received
        ("plain", "plain"),
        ("\u00ff\u00fe", "\u00ff\u00fe"),
    ],
)
def test_readable_header(received, shown):
    assert readable_header(received) == shown


def load_gunicorn_conf():
    spec = importlib.util.spec_from_file_location(
        "gunicorn_conf", ROOT / "gunicorn.conf.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gunicorn_conf():
    return load_gunicorn_conf()


@pytest.mark.parametrize(
    ("sent", "logged"),
    [
        (
            "2c6c5b2f-8a43-4bd6-9d5f-0f1f1d8e3c7a",
            "2c6c5b2f-8a43-4bd6-9d5f-0f1f1d8e3c7a",
        ),
        ("a" * 20, "a" * 20),
        ("a" * 200, "a" * 200),
        ("a" * 19, "-"),
        ("a" * 201, "-"),
        ("", "-"),
        ('forged "GET /admin HTTP/1.1" 200', "-"),
        ("abcdefghijklmnopqrst\nX", "-"),
    ],
)
def test_only_an_id_like_request_id_is_logged(gunicorn_conf, sent, logged):
    assert gunicorn_conf.request_id({"HTTP_X_REQUEST_ID": sent}) == logged


@pytest.fixture
def access_log(tmp_path):
    """gunicorn.conf.py writing its access lines to a pipe of the test's, and
    its complaints to another."""
    module = load_gunicorn_conf()
    stdout_read, module.STDOUT = os.pipe()
    stderr_read, module.STDERR = os.pipe()
    yield module, stdout_read, stderr_read
    for fd in (stdout_read, stderr_read, module.STDOUT, module.STDERR):
        with contextlib.suppress(OSError):
            os.close(fd)


def test_a_line_cut_short_by_a_signal_is_written_whole(access_log):
    """A write that a signal interrupts returns what it wrote so far: the rest
    must follow, or the log gets half a line and the next one glued to it."""
    module, stdout_read, _ = access_log
    line = b"".join(b"%07d " % n for n in range(200_000)) + b"\n"  # 1.6 MB
    received = bytearray()

    def read_slowly():
        while chunk := os.read(stdout_read, 65536):
            received.extend(chunk)
            time.sleep(0.0005)

    reader = threading.Thread(target=read_slowly)
    reader.start()
    interrupted = []
    previous = signal.signal(signal.SIGALRM, lambda *_: interrupted.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
    try:
        module.write_line(line)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        os.close(module.STDOUT)
        reader.join()
    assert interrupted  # the write was interrupted, and went on
    assert bytes(received) == line


def test_a_failed_write_loses_the_line_not_the_request(access_log):
    module, stdout_read, stderr_read = access_log
    os.close(stdout_read)  # nobody reads the log: a broken pipe
    module.write_line(b"GET / 200\n")
    assert os.read(stderr_read, 4096) == b"Access log line lost: Broken pipe\n"


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/api", "/api"),
        ('/a"b', "/a\\x22b"),
        ("/a b", "/a\\x20b"),
        ("/\x1b[31m", "/\\x1b[31m"),
        ("/back\\slash", "/back\\x5cslash"),
    ],
)
def test_paths_are_escaped_in_the_log(gunicorn_conf, path, logged):
    assert gunicorn_conf.log_safe(path) == logged


@pytest.mark.parametrize(
    ("environ", "urls"),
    [
        ({}, (None, None)),
        (
            {"IPV4_URL": "https://ipv4.example.com/", "IPV6_URL": "http://v6.test:81"},
            ("https://ipv4.example.com", "http://v6.test:81"),
        ),
    ],
)
def test_dual_stack_urls(environ, urls):
    assert dual_stack_urls(environ) == urls


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"IPV4_URL": "https://ipv4.example.com"}, "go together"),
        ({"IPV4_URL": "ipv4.example.com", "IPV6_URL": "https://x"}, "must be http"),
        ({"IPV4_URL": "ftp://a", "IPV6_URL": "https://x"}, "must be http"),
        ({"IPV4_URL": "https://a/?q=1", "IPV6_URL": "https://x"}, "nothing else"),
    ],
)
def test_dual_stack_urls_refuse_nonsense(environ, message):
    with pytest.raises(SettingError, match=message):
        dual_stack_urls(environ)


JSON_APP = create_app({"LOOKUPS": frozenset(), "RATE_LIMIT": None})
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, database=None)
@given(value=JSON_VALUES)
def test_json_answers_are_byte_for_byte_the_json_modules(value):
    """orjson writes the answers; they must be what json.dumps would have been."""
    provider = JSON_APP.json
    assert provider.dumps(value) == json.dumps(
        value, ensure_ascii=False, separators=(",", ":")
    )
    assert provider.dumps(value, indent=2) == json.dumps(
        value, ensure_ascii=False, indent=2
    )
