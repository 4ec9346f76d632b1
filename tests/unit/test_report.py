"""The report's shape: arguments as sent, headers as the client meant them."""

import ipaddress

import pytest

from whatismyip.report import build_report, group_args, query_pairs, readable_header


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
