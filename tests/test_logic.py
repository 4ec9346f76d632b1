"""Fast, table-driven tests of the logic that is not about HTTP."""

import ipaddress

import pytest

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
    ],
)
def test_client_address(site, peer, forwarded_for, hops, expected):
    assert str(site.client_address(peer, forwarded_for, hops)) == expected


def test_client_address_is_none_when_nothing_is_an_address(site):
    assert site.client_address("", "garbage", 1) is None


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
def test_trusted_proxy_hops(site, environ, expected):
    assert site.trusted_proxy_hops(environ) == expected


@pytest.mark.parametrize("value", ["-1", "two", "1.5", "0x2"])
def test_trusted_proxy_hops_refuses_nonsense(site, value):
    with pytest.raises(ValueError, match="TRUSTED_PROXY_HOPS"):
        site.trusted_proxy_hops({"TRUSTED_PROXY_HOPS": value})


@pytest.mark.parametrize(
    ("address", "scope"),
    [
        ("203.0.113.9", "reserved"),  # documentation range
        ("8.8.8.8", "public"),
        ("2606:4700:4700::1111", "public"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "private"),
        ("240.0.0.1", "reserved"),
    ],
)
def test_address_scope(site, address, scope):
    assert site.address_scope(ipaddress.ip_address(address)) == scope


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
def test_query_args(site, query_string, expected):
    args = site.group_args(site.query_pairs(query_string))
    assert args == expected
    assert list(args) == list(expected)  # first-seen order


@pytest.mark.parametrize(
    ("accept", "user_agent", "expected"),
    [
        # Browsers get the page.
        (FIREFOX_ACCEPT, FIREFOX, "html"),
        (CHROME_ACCEPT, CHROME, "html"),
        ("", FIREFOX, "html"),
        ("*/*", "python-requests/2.32.3", "html"),
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
        ("text/*", "", "html"),
        ("text/*, text/plain;q=0", "", "html"),
        ("*/*;q=0.1, application/json", "", "json"),
        # A named type beats a wildcard of the same quality.
        ("*/*, application/json", "", "json"),
        ("*/*, text/plain", FIREFOX, "text"),
        ("application/json;q=0, */*", "", "html"),
        # Nothing acceptable, or nonsense: fall back to what the client is.
        ("image/png", "", "html"),
        ("image/png", CURL, "text"),
        ("garbage;;;q=abc, ,,", "", "html"),
        ("text/html;q=2", CURL, "text"),
        ("application/json;q=0", "", "html"),
    ],
)
def test_choose_format(site, accept, user_agent, expected):
    assert site.choose_format(accept, user_agent) == expected


def test_build_report_fields(site):
    headers = {"User-Agent": "curl/8.5.0", "X-Request-Id": "abc-123"}
    report = site.build_report(ipaddress.ip_address("2001:db8::1"), "a=1&a=", headers)
    assert report == {
        "ip": "2001:db8::1",
        "ip_version": 6,
        "ip_is_global": False,
        "ip_scope": "reserved",
        "args": {"a": ["1", ""]},
        "pairs": [("a", "1"), ("a", "")],
        "query_string": "a=1&a=",
        "user_agent": "curl/8.5.0",
        "request_id": "abc-123",
        "headers": headers,
    }


def test_build_report_without_an_address(site):
    report = site.build_report(None, "", {})
    assert report["ip"] is None
    assert report["ip_scope"] == "unknown"
    assert report["user_agent"] is None
