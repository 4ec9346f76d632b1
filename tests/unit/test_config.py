"""Every setting through its bad values: each stops the boot with one line that
names the setting and says what it takes (and never repeats a password);
the edges of each range, and the defaults."""

import json

import pytest

from support.serving import (
    ROOT,
)
from whatismyip.config import (
    DEFAULT_GEO_DB,
    DEFAULT_GEO_DB_URL,
    DEFAULT_RDAP_BOOTSTRAP_URL,
    SettingError,
    dual_stack_urls,
    parse_ipv6_prefix,
    parse_lookups,
    parse_rate_limit,
    parse_resolvers,
    parse_site_url,
    parse_timeout,
    settings_from_environment,
    trusted_proxy_hops,
)

GOOD_URLS = {"IPV4_URL": "https://ipv4.example.com", "IPV6_URL": "https://v6.example"}

BAD = [
    ("TRUSTED_PROXY_HOPS", "two", "TRUSTED_PROXY_HOPS must be a whole number"),
    ("TRUSTED_PROXY_HOPS", "²", "TRUSTED_PROXY_HOPS must be a whole number"),
    ("TRUSTED_PROXY_HOPS", "50", "TRUSTED_PROXY_HOPS must be a whole number"),
    ("TRUSTED_PROXY_HOPS", "6", "TRUSTED_PROXY_HOPS must be a whole number"),
    ("TRUSTED_PROXY_HOPS", "-1", "TRUSTED_PROXY_HOPS must be a whole number"),
    ("STATIC_AUTOREFRESH", "maybe", "STATIC_AUTOREFRESH is on (1, true"),
    ("RATE_LIMIT", "lots", "RATE_LIMIT must look like 60/minute"),
    ("RATE_LIMIT", "0/minute", "RATE_LIMIT must look like 60/minute"),
    ("RATE_LIMIT", "10 per 0 seconds", "RATE_LIMIT must look like 60/minute"),
    ("LOOKUP_RATE_LIMIT", "0/minute", "LOOKUP_RATE_LIMIT must look like"),
    ("RATE_LIMIT_IPV6_PREFIX", "16", "RATE_LIMIT_IPV6_PREFIX must be a prefix"),
    ("RATE_LIMIT_IPV6_PREFIX", "31", "RATE_LIMIT_IPV6_PREFIX must be a prefix"),
    ("RATE_LIMIT_IPV6_PREFIX", "129", "RATE_LIMIT_IPV6_PREFIX must be a prefix"),
    ("REDIS_URL", "localhost:6379", "REDIS_URL must look like redis://"),
    ("REDIS_URL", "http://cache.example", "REDIS_URL must look like redis://"),
    ("REDIS_URL", "redis://:hunter2@cache.example:port", "REDIS_URL must look like"),
    ("REDIS_URL", "redis://:hunter2@/0", "REDIS_URL must look like"),
    ("REDIS_URL", "redis://cache.example:0", "REDIS_URL must look like"),
    ("LOOKUPS", "country,weather", "LOOKUPS takes country, asn, hostname, location"),
    ("RDAP_BOOTSTRAP_URL", "ftp://data.example/", "RDAP_BOOTSTRAP_URL must be"),
    ("RDAP_BOOTSTRAP_URL", "https://data.example/rdap", "RDAP_BOOTSTRAP_URL must"),
    ("RDAP_BOOTSTRAP_URL", "https://a.example/ x/", "RDAP_BOOTSTRAP_URL must be"),
    ("RDAP_TIMEOUT", "0", "RDAP_TIMEOUT must be seconds between 0 and 10"),
    ("RDAP_TIMEOUT", "30", "RDAP_TIMEOUT must be seconds between 0 and 10"),
    ("RDAP_TIMEOUT", "10.5", "RDAP_TIMEOUT must be seconds between 0 and 10"),
    ("GEO_DB", "/", "GEO_DB must be the path of an MMDB file"),
    ("GEO_DB_URL", "ftp://db.example/x.mmdb", "GEO_DB_URL must be an http(s) URL"),
    ("GEO_DB_URL", "https://db.example/{year}.mmdb", "GEO_DB_URL must be an http"),
    ("GEO_DB_URL", "https://db.example", "GEO_DB_URL must be an http(s) URL"),
    ("DNS_RESOLVER", "dns.example", "DNS_RESOLVER takes IP addresses"),
    ("DNS_RESOLVER", "fe80::53%eth0", "DNS_RESOLVER takes IP addresses"),
    ("DNS_RESOLVER", "192.0.2.53:70000", "DNS_RESOLVER: '70000' is not a port"),
    ("DNS_RESOLVER", "192.0.2.53:65536", "DNS_RESOLVER: '65536' is not a port"),
    ("DNS_RESOLVER", "192.0.2.53:0", "DNS_RESOLVER: '0' is not a port"),
    ("DNS_RESOLVER", "192.0.2.53:５３", "is not a port"),
    ("LOOKUP_TIMEOUT", "0", "LOOKUP_TIMEOUT must be seconds"),
    ("LOOKUP_TIMEOUT", "60", "LOOKUP_TIMEOUT must be seconds"),
    ("LOOKUP_TIMEOUT", "nan", "LOOKUP_TIMEOUT must be seconds"),
    ("IPV4_URL", "https://a.example;script-src *", "IPV4_URL must be http(s)://host"),
    ("IPV4_URL", "https://a.example/path", "IPV4_URL must be http(s)://host"),
    ("IPV4_URL", "https://a.example?q=1", "IPV4_URL must be http(s)://host"),
    ("IPV4_URL", "https://user@a.example", "IPV4_URL must be http(s)://host"),
    ("IPV4_URL", "ftp://a.example", "IPV4_URL must be http(s)://host"),
    ("IPV4_URL", "a.example", "IPV4_URL must be http(s)://host"),
    ("IPV4_URL", "https://-a.example", "IPV4_URL: '-a.example' is not a host name"),
    ("IPV4_URL", "https://a.example:99999", "IPV4_URL: '99999' is not a port"),
    ("IPV4_URL", "https://a.example:65536", "IPV4_URL: '65536' is not a port"),
    ("IPV4_URL", "https://a.example:0", "IPV4_URL: '0' is not a port"),
    # Digits and dots are an IPv4 address or nothing: never a host name.
    ("IPV4_URL", "https://192.0.2.256", "IPV4_URL: '192.0.2.256' is not a host name"),
    ("IPV6_URL", "http://[::1]:5058", "IPV6_URL: Chromium refuses an IPv6 literal"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD)
def test_a_bad_setting_is_one_line_that_names_it(name, value, message):
    environ = {**GOOD_URLS, name: value}
    with pytest.raises(SettingError) as refused:
        settings_from_environment(environ)
    said = str(refused.value)
    assert said.startswith(name)
    assert message in said
    assert "\n" not in said
    assert "hunter2" not in said


@pytest.mark.parametrize(
    ("value", "on"),
    [("", False), ("0", False), ("off", False), ("No", False), ("1", True)]
    + [("true", True), ("YES", True), (" on ", True)],
)
def test_switches_read_the_usual_spellings(value, on):
    settings = settings_from_environment({"STATIC_AUTOREFRESH": value})
    assert settings["STATIC_AUTOREFRESH"] is on


@pytest.mark.parametrize(
    ("environ", "said"),
    [
        (
            {"LOOKUPS": "weather, Tides,country"},
            "LOOKUPS takes country, asn, hostname, location and owner, "
            "not tides, weather",
        ),
        (
            {"IPV4_URL": "https://ipv4.example.com"},
            "IPV4_URL and IPV6_URL go together: set both, or neither",
        ),
        (
            {"REDIS_URL": "redis://:hunter2@cache.example:port/0"},
            "REDIS_URL must look like redis://[:password@]host[:port][/db], or "
            "rediss:// for TLS, not 'redis://:***@cache.example:port/0'",
        ),
    ],
)
def test_a_message_says_exactly_what_is_wrong(environ, said):
    with pytest.raises(SettingError) as refused:
        settings_from_environment(environ)
    assert str(refused.value) == said


# The edges of each range, as an operator would write them.
EDGES = {
    "RATE_LIMIT": "1/minute",
    "LOOKUP_RATE_LIMIT": "1/second",
    "RATE_LIMIT_IPV6_PREFIX": "32",
    "RDAP_TIMEOUT": "10",
    "LOOKUP_TIMEOUT": "0.01",
    "TRUSTED_PROXY_HOPS": "0",
    "REDIS_URL": "redis://cache.example:1",
    "IPV4_URL": "http://ipv4.example:1",
    "IPV6_URL": "https://IPV6.EXAMPLE.BOX/",
}
GOOD = {
    "IPV4_URL": "http://127.0.0.1:5058/",  # an IPv4 literal works in Chromium
    "IPV6_URL": "https://v6.example:8443",
    "REDIS_URL": "rediss://:secret@cache.example:6380/0",
    "DNS_RESOLVER": "[2001:db8::53]:5353, 192.0.2.53",
    "TRUSTED_PROXY_HOPS": "5",
}


def settings_named(settings: dict, environ: dict) -> dict:
    """The settings read from the variables `environ` sets."""
    return {name: settings[name] for name in environ}


def test_the_edges_of_each_range_are_accepted():
    settings = settings_from_environment(EDGES)
    assert settings_named(settings, EDGES) == {
        **EDGES,
        "RATE_LIMIT_IPV6_PREFIX": 32,
        "RDAP_TIMEOUT": 10,
        "LOOKUP_TIMEOUT": 0.01,
        "TRUSTED_PROXY_HOPS": 0,
        "IPV6_URL": "https://IPV6.EXAMPLE.BOX",
    }
    assert (
        parse_site_url("IPV4_URL", "http://a.example:65535") == "http://a.example:65535"
    )
    assert (
        settings_from_environment({"RATE_LIMIT_IPV6_PREFIX": "128"})[
            "RATE_LIMIT_IPV6_PREFIX"
        ]
        == 128
    )


def test_unset_settings_take_their_defaults():
    settings = settings_from_environment({})
    assert settings["GEO_DB"] == DEFAULT_GEO_DB
    assert settings["GEO_DB_URL"] == DEFAULT_GEO_DB_URL
    assert settings["RDAP_BOOTSTRAP_URL"] == DEFAULT_RDAP_BOOTSTRAP_URL
    assert settings["LOOKUP_RATE_LIMIT"] == "60/minute"
    assert settings["RATE_LIMIT"] is None
    assert settings["RATE_LIMIT_IPV6_PREFIX"] == 64
    assert settings["LOOKUP_TIMEOUT"] == 0.5
    assert settings["RDAP_TIMEOUT"] == 3


def test_good_values_pass_as_given():
    settings = settings_from_environment(GOOD)
    assert settings_named(settings, GOOD) == {
        **GOOD,
        "IPV4_URL": "http://127.0.0.1:5058",
        "DNS_RESOLVER": [("2001:db8::53", 5353), ("192.0.2.53", 53)],
        "TRUSTED_PROXY_HOPS": 5,
    }


def test_app_json_offers_every_operator_setting_and_its_defaults_boot():
    """Heroku's Deploy form shows app.json's settings with their values filled
    in: each must be one the site reads, and the form as given must boot with
    the same settings as no form at all."""
    form = json.loads((ROOT / "app.json").read_text())["env"]
    operator_settings = set(settings_from_environment({})) - {
        "STATIC_AUTOREFRESH"  # for `make run`, never for a dyno
    }
    assert set(form) == operator_settings
    filled_in = {
        name: field["value"] for name, field in form.items() if "value" in field
    }
    assert settings_from_environment(filled_in) == settings_from_environment({})


@pytest.mark.parametrize("value", ["all", " ALL "])
def test_all_lookups_can_be_written_out(value):
    assert settings_from_environment({"LOOKUPS": value})["LOOKUPS"] == {
        "country",
        "asn",
        "hostname",
        "location",
        "owner",
    }


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


@pytest.mark.parametrize(
    ("text", "resolvers"),
    [
        ("", []),
        ("192.0.2.53", [("192.0.2.53", 53)]),
        ("192.0.2.53:5353, 2001:db8::53", [("192.0.2.53", 5353), ("2001:db8::53", 53)]),
        ("[2001:db8::53]:5353", [("2001:db8::53", 5353)]),
        ("192.0.2.53:1, 192.0.2.54:65535", [("192.0.2.53", 1), ("192.0.2.54", 65535)]),
    ],
)
def test_dns_resolver_setting(text, resolvers):
    assert parse_resolvers(text) == resolvers


@pytest.mark.parametrize("text", ["dns.example", "192.0.2.53:dns", "192.0.2.53:70000"])
def test_nonsense_dns_resolver_is_refused(text):
    with pytest.raises(SettingError, match="DNS_RESOLVER"):
        parse_resolvers(text)


def test_lookups_and_timeout_settings():
    assert parse_lookups(None) == {"country", "asn", "hostname", "location", "owner"}
    assert parse_lookups("asn, Hostname") == {"asn", "hostname"}
    assert parse_lookups("none") == parse_lookups("") == frozenset()
    with pytest.raises(SettingError, match="LOOKUPS takes"):
        parse_lookups("country,weather")
    assert parse_timeout("0.5") == 0.5
    for nonsense in ("0", "-1", "soon", "60"):
        with pytest.raises(SettingError, match="LOOKUP_TIMEOUT"):
            parse_timeout(nonsense)


@pytest.mark.parametrize(
    ("setting", "parsed"),
    [
        ("60/minute", "60/minute"),
        (" 10/second;1000/day ", "10/second;1000/day"),
        ("", ""),
        ("None", ""),
    ],
)
def test_rate_limit_setting(setting, parsed):
    assert parse_rate_limit(setting) == parsed


@pytest.mark.parametrize(
    "setting",
    ["lots", "60 per fortnight", "/minute", "0/minute", "10 per 0 seconds", "5/0day"],
)
def test_nonsense_rate_limit_is_refused_with_a_clear_message(setting):
    with pytest.raises(SettingError, match="RATE_LIMIT must look like 60/minute"):
        parse_rate_limit(setting)
    with pytest.raises(SettingError, match="^LOOKUP_RATE_LIMIT must look like"):
        parse_rate_limit(setting, "LOOKUP_RATE_LIMIT")


def test_the_defaults_limit_lookups_but_not_requests():
    settings = settings_from_environment({})
    assert settings["RATE_LIMIT"] is None
    assert settings["LOOKUP_RATE_LIMIT"] == "60/minute"
    assert settings["RATE_LIMIT_IPV6_PREFIX"] == 64
    assert (
        settings_from_environment({"LOOKUP_RATE_LIMIT": ""})["LOOKUP_RATE_LIMIT"]
        is None
    )


def test_ipv6_prefix_setting():
    assert parse_ipv6_prefix(" 48 ") == 48
    assert parse_ipv6_prefix("128") == 128
    for nonsense in ("31", "129", "", "sixty-four", "６４", "64.0"):
        with pytest.raises(SettingError, match="RATE_LIMIT_IPV6_PREFIX must be"):
            parse_ipv6_prefix(nonsense)
