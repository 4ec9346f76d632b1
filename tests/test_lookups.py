"""Country, network and hostname: asked of a real DNS server (dnsmasq) that the
tests start on loopback, serving PTR, A/AAAA and Team Cymru-style TXT records."""

import ipaddress
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
import requests

from conftest import BROWSER, CURL
from serving import (
    GOOGLE_V6,
    GOOGLE_V6_NIBBLES,
    Burst,
    DroppingResolver,
    SilentResolver,
    SlowResolver,
    wait_for,
)
from whatismyip.config import (
    SettingError,
    parse_lookups,
    parse_resolvers,
    parse_timeout,
)
from whatismyip.lookups import (
    Breaker,
    Lookups,
    _txt,
    country_facts,
    cymru_origin_name,
    flag,
    keep_for,
    parse_as_name,
    parse_origin,
    unavailable_retry_after,
)

THIS_MONTH = time.strftime("%Y-%m", time.gmtime())  # the test database's


@pytest.fixture
def client(make_app, dns_server):
    """An app asking only the test DNS server, behind one trusted proxy."""
    return make_app(
        TRUSTED_PROXY_HOPS=1, DNS_RESOLVER=parse_resolvers(dns_server.address)
    ).test_client()


def lookup(client, address):
    return client.get(f"/api/lookup/{address}")


# --- /api/lookup -------------------------------------------------------------------


def test_an_address_with_a_confirmed_hostname(client):
    response = lookup(client, "8.8.8.8")
    assert response.status_code == 200
    assert response.json == {
        "ip": "8.8.8.8",
        "ip_version": 4,
        "ip_is_global": True,
        "ip_scope": "public",
        "country": "US",
        "country_name": "United States",
        "asn": 15169,
        "as_name": "GOOGLE - Google LLC",
        "prefix": "8.8.8.0/24",
        "hostname": "dns.google",
        "hostname_confirmed": True,
        "city": "Mountain View",
        "region": "California",
        "geo_country": "US",
        "latitude": 37.4056,
        "longitude": -122.0775,
        "time_zone": "America/Los_Angeles",
        "geo_source": {"name": "DB-IP IP to City Lite", "month": THIS_MONTH},
        "unavailable": [],
    }


def test_a_hostname_that_does_not_resolve_back_is_not_confirmed(client):
    facts = lookup(client, "1.1.1.1").json
    assert facts["hostname"] == "claims-to-be.example"
    assert facts["hostname_confirmed"] is False
    assert (facts["asn"], facts["as_name"]) == (
        13335,
        "CLOUDFLARENET - Cloudflare, Inc.",
    )


def test_ipv6(client):
    facts = lookup(client, GOOGLE_V6).json
    assert (facts["ip"], facts["ip_version"]) == (GOOGLE_V6, 6)
    assert (facts["asn"], facts["prefix"]) == (15169, "2001:4860::/32")
    assert (facts["hostname"], facts["hostname_confirmed"]) == ("dns.google", True)


def test_an_address_nothing_is_known_of_but_its_country(client):
    facts = lookup(client, "193.0.6.139").json
    assert facts["country"] == "NL"
    assert facts["asn"] is facts["hostname"] is None
    assert facts["hostname_confirmed"] is False


@pytest.mark.parametrize(
    ("address", "scope"),
    [("10.1.2.3", "private"), ("127.0.0.1", "loopback"), ("fe80::1", "link-local")]
    + [("192.0.2.7", "reserved"), ("64:ff9b::a00:1", "private")],
)
def test_a_private_or_reserved_address_gets_its_scope_and_no_query(
    client, dns_server, address, scope
):
    asked_before = len(dns_server.queries())
    facts = lookup(client, address).json
    assert facts["ip_scope"] == scope
    assert facts["ip_is_global"] is False
    assert [facts[field] for field in ("country", "asn", "hostname")] == [None] * 3
    assert len(dns_server.queries()) == asked_before


@pytest.mark.parametrize(
    "garbage", ["not-an-address", "999.1.1.1", "1.2.3", "%3Cscript%3E", "::g"]
)
def test_garbage_is_a_json_400_that_says_what_was_wrong(client, garbage):
    response = lookup(client, garbage)
    assert response.status_code == 400
    assert response.content_type == "application/json"
    assert "is not an IP address" in response.json["error"]["message"]


@pytest.mark.parametrize(
    "path",
    [
        "2001:4860:4860::8888%evil<b>",
        "fe80::1%25eth0",
        "2001:db8::1%25%0D%0AX-Evil:%201",
    ],
)
def test_a_zone_after_percent_is_a_json_400_that_says_why(client, path):
    response = lookup(client, path)
    assert response.status_code == 400
    assert response.content_type == "application/json"
    message = response.json["error"]["message"]
    assert "has a zone (scope ID) after %" in message
    assert "\r" not in message  # quoted with its control characters escaped


def test_numbers_from_dns_that_are_no_as_number_are_not_shown():
    assert parse_origin(["4294967296 | 8.8.8.0/24 | US | arin | 2023-12-28"]) is None
    assert parse_origin(["4294967295 | 8.8.8.0/24 | US"]) == (4294967295, "8.8.8.0/24")
    assert parse_origin(["-1 | 8.8.8.0/24 | US"]) is None


def test_answers_are_kept_for_their_ttl_in_a_bounded_cache(dns_server):
    lookups = Lookups(
        parse_lookups(None), parse_resolvers(dns_server.address), 2, cache_size=2
    )
    for address in ("8.8.8.8", "1.1.1.1"):
        assert lookups.facts(ipaddress.ip_address(address), own=True)["asn"]
    one = ipaddress.ip_address("1.1.1.1")
    # Two entries at most: the least recently used (8.8.8.8's) went first.
    assert set(lookups.cache) == {("asn", one), ("hostname", one)}
    for expires, _ in lookups.cache.values():  # the records' TTL, 300 s here
        assert 290 < expires - time.monotonic() <= 300

    def asked():
        return len(dns_server.queries("1.1.1.1.in-addr.arpa"))

    before = asked()
    lookups.facts(one, own=True)
    assert asked() == before  # kept
    # Past its time, as its records are past their TTL in the resolver's cache.
    lookups.cache[("hostname", one)] = (time.monotonic() - 1, {})
    lookups.resolver.cache.flush()
    assert lookups.facts(one, own=True)["hostname"] == "claims-to-be.example"
    assert asked() == before + 1


def test_a_repeat_visitor_causes_no_second_query(client, dns_server):
    def asked():
        return len(dns_server.queries("1.1.1.1.in-addr.arpa"))

    before = asked()
    first = lookup(client, "1.1.1.1").json
    assert asked() == before + 1
    for _ in range(3):
        assert lookup(client, "1.1.1.1").json == first
    assert asked() == before + 1


def test_lookups_can_be_turned_off_one_by_one(make_app, dns_server):
    resolver = parse_resolvers(dns_server.address)
    only_country = make_app(LOOKUPS=parse_lookups("country"), DNS_RESOLVER=resolver)
    asked_before = len(dns_server.queries())
    facts = only_country.test_client().get("/api/lookup/9.9.9.9").json
    assert facts["country"] == "US"
    assert len(dns_server.queries()) == asked_before
    nothing = make_app(LOOKUPS=parse_lookups(""), DNS_RESOLVER=resolver)
    facts = nothing.test_client().get("/api/lookup/9.9.9.9").json
    assert facts["country"] is None
    assert len(dns_server.queries()) == asked_before


# --- The visitor's own address -------------------------------------------------------


def test_the_report_carries_the_visitors_facts(client):
    report = client.get("/api", headers={"X-Forwarded-For": "8.8.8.8"}).json
    assert report["ip"] == "8.8.8.8"
    assert report["country"] == "US"
    assert report["asn"] == 15169
    assert report["hostname"] == "dns.google"
    assert list(report)[:19] == list(lookup(client, "8.8.8.8").json)


def test_the_page_shows_country_network_and_hostname(client):
    page = client.get("/", headers={**BROWSER, "X-Forwarded-For": "8.8.8.8"}).text
    assert "🇺🇸</span> United States" in page
    assert '<span class="asn">AS15169</span> GOOGLE - Google LLC' in page
    assert "8.8.8.0/24" in page
    assert '<span class="hostname">dns.google</span>' in page
    assert "Confirmed</span>" in page
    unconfirmed = client.get(
        "/", headers={**BROWSER, "X-Forwarded-For": "1.1.1.1"}
    ).text
    assert "Not confirmed</span>" in unconfirmed


def test_another_address_can_be_looked_up_on_a_page(client):
    page = client.get("/lookup", query_string={"address": " 1.1.1.1 "}, headers=BROWSER)
    assert page.status_code == 200
    assert '<p class="ip" id="looked-up">1.1.1.1</p>' in page.text
    assert "claims-to-be.example" in page.text
    bad = client.get("/lookup", query_string={"address": "<b>"}, headers=BROWSER)
    assert bad.status_code == 400
    assert bad.content_type == "text/html; charset=utf-8"
    assert "&#39;&lt;b&gt;&#39; is not an IP address" in bad.text


@pytest.mark.parametrize(
    ("path", "answer"),
    [("/country", "US\n"), ("/asn", "AS15169\n"), ("/hostname", "dns.google\n")],
)
def test_plain_text_facts_for_shell_scripts(client, path, answer):
    response = client.get(path, headers={**CURL, "X-Forwarded-For": "8.8.8.8"})
    assert response.status_code == 200
    assert response.content_type == "text/plain; charset=utf-8"
    assert response.text == answer


def test_a_fact_nobody_knows_is_a_404_for_scripts(client):
    response = client.get("/hostname", headers={**CURL, "X-Forwarded-For": "9.9.9.9"})
    assert response.status_code == 404
    assert response.text == "404 Not Found: No hostname is known for 9.9.9.9.\n"


@pytest.mark.parametrize("path", ["/api/ip", "/ip", "/get_my_ip/"])
def test_the_bare_address_makes_no_lookups(client, dns_server, path):
    asked_before = len(dns_server.queries())
    client.get(path, headers={"X-Forwarded-For": "8.8.4.4"})
    assert len(dns_server.queries()) == asked_before


# --- Booted: gevent, and a resolver that never answers -----------------------------


def test_lookups_in_a_gevent_worker(start_server, dns_server):
    server = start_server(DYNO="web.1", DNS_RESOLVER=dns_server.address)
    report = requests.get(
        f"{server.url}/api", headers={"X-Forwarded-For": GOOGLE_V6}, timeout=10
    ).json()
    assert (report["asn"], report["hostname"]) == (15169, "dns.google")


@pytest.fixture
def silent():
    resolver = SilentResolver()
    yield resolver
    resolver.close()


@pytest.fixture(scope="module")
def slow(dns_server):
    """The test DNS server, answering 100 ms late."""
    resolver = SlowResolver(dns_server)
    yield resolver
    resolver.close()


DNS_FIELDS = ["asn", "as_name", "prefix", "hostname", "hostname_confirmed"]
VISITORS = ["8.8.8.8", "1.1.1.1", "9.9.9.9", "193.0.6.139", GOOGLE_V6, "8.8.4.4"]


def visit(server, address: str, path="/api", **headers) -> requests.Response:
    return requests.get(
        f"{server.url}{path}",
        headers={**headers, "X-Forwarded-For": address},
        timeout=10,
    )


def test_a_dead_resolver_is_noticed_skipped_and_said(start_server, silent):
    server = start_server(  # one worker: each keeps its own state
        DYNO="web.1", WEB_CONCURRENCY="1", DNS_RESOLVER=silent.address,
        LOOKUP_TIMEOUT="0.3",
    )  # fmt: skip
    # The registered country needs no network, and asks none.
    country = visit(server, "8.8.8.8", "/country", **CURL)
    assert (country.status_code, country.text) == (200, "US\n")
    assert silent.received == 0

    # Each visitor waits the time limit at most, and is told what is missing.
    for address in VISITORS:
        started = time.monotonic()
        report = visit(server, address).json()
        # The limit is 0.3 s; the margin is for a loaded machine, far below
        # the seconds a resolver's own timeouts would take.
        assert time.monotonic() - started < 1.5
        assert report["unavailable"] == DNS_FIELDS
        assert report["asn"] is report["hostname"] is None
        if "DNS resolver not answering" in server.log():
            break
    else:
        raise AssertionError(f"no breaker after {len(VISITORS)} visitors")
    asked = silent.received
    assert asked >= 5

    # Open: nobody is asked, and every answer says what it lacks.
    report = visit(server, "11.22.33.44").json()
    assert report["unavailable"] == DNS_FIELDS
    assert report["country"] == "US"
    page = visit(server, "8.8.8.8", "/", **BROWSER).text
    assert page.count("Could not be looked up just now") == 2  # network, hostname
    assert "United States" in page
    for path in ("/hostname", "/asn"):
        answer = visit(server, "8.8.8.8", path, **CURL)
        assert answer.status_code == 503
        assert 5 <= int(answer.headers["Retry-After"]) <= 30
        assert "could not be looked up just now" in answer.text
    assert silent.received == asked
    assert server.log().count("DNS resolver not answering") == 1


def test_the_breaker_opens_after_five_timeouts_and_closes_on_an_answer(caplog):
    breaker = Breaker()
    for second in range(4):
        breaker.timed_out(second)
    assert not breaker.is_open(4)
    breaker.timed_out(4)
    assert breaker.is_open(4)
    assert breaker.is_open(33.9)
    assert not breaker.is_open(34)  # tried again after 30 s
    breaker.timed_out(34.5)  # and still silent: skipped for 30 s more
    assert breaker.is_open(64)
    breaker.answered()
    assert not breaker.is_open(65)
    assert [
        record.getMessage().split(" (")[0].split(":")[0] for record in caplog.records
    ] == [
        "DNS resolver not answering",
        "DNS resolver answering again",
    ]
    breaker.timed_out(70)  # one timeout after an answer opens nothing
    assert not breaker.is_open(70)


def test_a_flood_of_other_addresses_leaves_visitors_their_own_lookups(
    start_server, slow
):
    server = start_server(
        DYNO="web.1", WEB_CONCURRENCY="1", DNS_RESOLVER=slow.address,
        LOOKUP_TIMEOUT="2", LOOKUP_RATE_LIMIT="",
    )  # fmt: skip
    # 64 clients, each asking about address after address, none of them known.
    flood = Burst(
        [server.url],
        lambda n, i: (f"/api/lookup/11.{n}.{i // 256 % 256}.{i % 256}", {}),
        clients=64,
        keep=lambda body: b'"unavailable":[]' not in body,
    )
    try:
        wait_for(lambda: len(flood.kept) > 20, what="the flood filled its budget")
        report = visit(server, "8.8.8.8").json()
        assert flood.thread.is_alive()  # still flooding
    finally:
        flood.stop()
    assert report["unavailable"] == []
    assert (report["asn"], report["hostname"]) == (15169, "dns.google")
    # A lookup refused for lack of room was not kept as a failure.
    again = requests.get(server.url + flood.kept[0][0], timeout=10).json()
    assert again["unavailable"] == []


def test_concurrent_first_lookups_of_one_address_share_one_question(
    start_server, slow, dns_server
):
    server = start_server(
        DYNO="web.1", WEB_CONCURRENCY="1", DNS_RESOLVER=slow.address,
        LOOKUP_TIMEOUT="2",
    )  # fmt: skip
    before = len(dns_server.queries("1.1.1.1.in-addr.arpa"))
    start = threading.Barrier(10)

    def first_visit(_):
        start.wait()
        return visit(server, "1.1.1.1").json()

    with ThreadPoolExecutor(max_workers=10) as pool:
        reports = list(pool.map(first_visit, range(10)))
    assert {report["hostname"] for report in reports} == {"claims-to-be.example"}
    assert len(dns_server.queries("1.1.1.1.in-addr.arpa")) == before + 1


# --- Pure functions ----------------------------------------------------------------


def test_cymru_names():
    assert cymru_origin_name(ipaddress.ip_address("8.8.4.4")) == (
        "4.4.8.8.origin.asn.cymru.com"
    )
    assert cymru_origin_name(ipaddress.ip_address(GOOGLE_V6)) == (
        f"{GOOGLE_V6_NIBBLES}.origin6.asn.cymru.com"
    )


@pytest.mark.parametrize(
    ("records", "origin"),
    [
        (["15169 | 8.8.8.0/24 | US | arin | 2023-12-28"], (15169, "8.8.8.0/24")),
        # The most specific announcement wins; of several origins, the first.
        (
            ["3356 | 8.0.0.0/9 | US | arin | 1992-12-01",
             "15169 23028 | 8.8.8.0/24 | US | arin | 2023-12-28"],
            (15169, "8.8.8.0/24"),
        ),
        (["garbage"], None),
        (["NA | 8.8.8.0/24 | US"], None),
        ([], None),
    ],
)  # fmt: skip
def test_parse_origin(records, origin):
    assert parse_origin(records) == origin


@pytest.mark.parametrize(
    ("records", "name"),
    [
        (["15169 | US | arin | 2000-03-30 | GOOGLE - Google LLC, US"],
         "GOOGLE - Google LLC"),
        (["64512 | ZZ | other | | "], None),
        (["nonsense"], None),
    ],
)  # fmt: skip
def test_parse_as_name(records, name):
    assert parse_as_name(records) == name


def test_country_facts_and_flags():
    assert country_facts("NL") == {"country": "NL", "country_name": "Netherlands"}
    assert country_facts("EU") == {"country": None, "country_name": None}
    assert country_facts(None) == {"country": None, "country_name": None}
    assert flag("US") == "🇺🇸"
    assert flag(None) == ""


def test_answers_are_kept_for_their_ttl_within_bounds():
    assert keep_for(300) == 300
    assert keep_for(0) == 60
    assert keep_for(86400 * 7) == 3600


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


# --- Each line has a test that notices it broken (make mutants) ------------------


@pytest.mark.parametrize(
    ("records", "origin"),
    [
        (["15169 | 8.8.8.0/24"], (15169, "8.8.8.0/24")),  # two fields are enough
        (["15169"], None),
        ([" | 8.8.8.0/24 | US"], None),
        # A record that cannot be read is passed over, not the end of the list.
        (["garbage", "15169 | 8.8.8.0/24 | US"], (15169, "8.8.8.0/24")),
        (["15169 | not a prefix", "13335 | 1.1.1.0/24"], (13335, "1.1.1.0/24")),
        (["4294967296 | 8.8.8.0/24", "15169 | 8.8.0.0/16"], (15169, "8.8.0.0/16")),
        (["15169 | 8.8.8.1/24"], (15169, "8.8.8.0/24")),  # host bits dropped
        (["0 | 192.0.2.0/24"], (0, "192.0.2.0/24")),  # AS 0 is an AS number
        # Two origins of equally specific prefixes: the first stands.
        (["15169 | 8.8.8.0/24", "23028 | 8.8.8.0/24"], (15169, "8.8.8.0/24")),
    ],
)
def test_parse_origin_record_by_record(records, origin):
    assert parse_origin(records) == origin


def test_a_country_is_named_as_people_call_it():
    assert country_facts("TW")["country_name"] == "Taiwan"
    assert country_facts("BO")["country_name"] == "Bolivia"


def test_a_txt_record_is_its_strings_joined_and_read_as_utf8():
    record = SimpleNamespace(strings=(b"15169 | GOOGLE", b" - Google \xff"))
    assert _txt(record) == "15169 | GOOGLE - Google \ufffd"


def test_the_breaker_counts_left_and_says_each_change_once(caplog):
    breaker = Breaker()
    assert not breaker.is_open(0.5)
    assert breaker.seconds_left(0.5) == 0.0
    for _ in range(3):
        breaker.timed_out(10.0)
    breaker.answered()  # too few to have opened: nothing to say
    assert caplog.records == []
    for _ in range(4):
        breaker.timed_out(10.0)  # counted afresh since the answer: not open
    assert not breaker.is_open(10.0)
    for _ in range(3):
        breaker.timed_out(10.0)  # the fifth in a row, then two more
    assert [record.getMessage() for record in caplog.records] == [
        "DNS resolver not answering (5 timeouts in a row): network and hostname "
        "lookups skipped, tried again every 30 s"
    ]
    assert breaker.seconds_left(25.5) == 14.5
    assert breaker.seconds_left(45.0) == 0.0
    breaker.answered()
    assert not breaker.is_open(0.5)
    assert caplog.records[-1].getMessage() == (
        "DNS resolver answering again: lookups resumed"
    )


def test_a_fact_unavailable_says_how_long_to_wait(make_app):
    app = make_app()
    lookups = app.extensions["lookups"]
    with app.app_context():
        assert unavailable_retry_after() == 5  # the breaker is closed
        for _ in range(5):
            lookups.breaker.timed_out(time.monotonic())
        assert unavailable_retry_after() == 30  # what the breaker has left


def test_a_silent_resolver_opens_the_breaker_within_the_time_limit(silent):
    lookups = Lookups(parse_lookups(None), parse_resolvers(silent.address), 0.2)
    for n in range(5):
        address = ipaddress.ip_address(f"9.9.9.{n}")
        facts = lookups.facts(address, own=True, wanted=("asn",))
        assert facts["unavailable"] == ["asn", "as_name", "prefix"]
    wait_for(lambda: lookups.breaker.is_open(time.monotonic()), timeout=3,
             what="five timeouts in a row opened the breaker")  # fmt: skip
    received = silent.received
    lookups.facts(ipaddress.ip_address("9.9.9.9"), own=True, wanted=("asn",))
    assert silent.received == received  # skipped while open


def test_only_the_sources_turned_on_are_asked_and_the_rest_unavailable(dns_server):
    lookups = Lookups(parse_lookups("hostname"), parse_resolvers(dns_server.address), 2)
    facts = lookups.facts(ipaddress.ip_address("8.8.8.8"), own=False)
    assert facts["hostname"] == "dns.google"
    assert facts["unavailable"] == [
        "country", "country_name", "asn", "as_name", "prefix",
        "city", "region", "geo_country", "latitude", "longitude", "time_zone",
    ]  # fmt: skip


def test_concurrent_first_questions_in_one_worker_share_one_query(dns_server, slow):
    lookups = Lookups(parse_lookups("hostname"), parse_resolvers(slow.address), 2)
    before = len(dns_server.queries("1.1.1.1.in-addr.arpa"))
    start = threading.Barrier(8)

    def ask(_):
        start.wait()
        return lookups.facts(ipaddress.ip_address("1.1.1.1"), own=True)["hostname"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(ask, range(8))) == {"claims-to-be.example"}
    assert len(dns_server.queries("1.1.1.1.in-addr.arpa")) == before + 1
    assert lookups.asking == {}  # nothing left in flight


def test_a_partial_answer_says_which_fields_are_missing(dns_server):
    """The AS name and the forward confirmation are asked of a resolver that
    drops exactly those questions: the network and the name stand, and
    `unavailable` lists both missing fields."""
    dropping = DroppingResolver(
        dns_server, drop=(r"AS\d+\.asn\.cymru\.com\.", r"dns\.google\.")
    )
    try:
        lookups = Lookups(
            parse_lookups("country,asn,hostname"),
            parse_resolvers(dropping.address),
            0.5,
        )
        facts = lookups.facts(
            ipaddress.ip_address("8.8.8.8"), True, ("asn", "hostname")
        )
    finally:
        dropping.close()
    assert (facts["asn"], facts["prefix"], facts["hostname"]) == (
        15169, "8.8.8.0/24", "dns.google"
    )  # fmt: skip
    assert facts["as_name"] is None
    assert facts["unavailable"] == ["as_name", "hostname_confirmed"]
    assert lookups.cache == {}  # an incomplete answer is not kept


def test_the_breaker_says_it_closed_after_exactly_five_timeouts(caplog):
    breaker = Breaker()
    for _ in range(5):
        breaker.timed_out(1.0)
    breaker.answered()
    assert caplog.records[-1].getMessage() == (
        "DNS resolver answering again: lookups resumed"
    )


def test_an_answer_kept_is_used_without_asking_again(dns_server):
    lookups = Lookups(parse_lookups("asn"), parse_resolvers(dns_server.address), 2)
    one = ipaddress.ip_address("1.1.1.1")
    assert lookups.facts(one, own=True, wanted=("asn",))["asn"] == 13335
    lookups.resolver.cache.flush()  # only the site's own answers are left
    before = len(dns_server.queries("1.1.1.1.origin.asn.cymru.com"))
    assert lookups.facts(one, own=True, wanted=("asn",))["asn"] == 13335
    assert len(dns_server.queries("1.1.1.1.origin.asn.cymru.com")) == before


def test_the_registered_country_asks_no_resolver(make_app, silent):
    client = make_app(DNS_RESOLVER=parse_resolvers(silent.address)).test_client()
    answer = client.get(
        "/country", headers=CURL, environ_base={"REMOTE_ADDR": "8.8.8.8"}
    )
    assert answer.text == "US\n"
    assert silent.received == 0


def test_every_source_that_got_no_answer_is_listed(silent):
    lookups = Lookups(parse_lookups(None), parse_resolvers(silent.address), 0.2)
    wanted = ("country", "asn", "hostname")
    facts = lookups.facts(ipaddress.ip_address("9.9.9.9"), own=True, wanted=wanted)
    assert facts["unavailable"] == DNS_FIELDS
    assert facts["country"] == "US"  # the offline source still answers


def test_a_lone_question_with_no_room_is_answered_at_once_not_queued(dns_server):
    lookups = Lookups(parse_lookups("asn"), parse_resolvers(dns_server.address), 2)
    room = lookups.room[True]
    while room.acquire(blocking=False):  # every place taken, as under a flood
        pass
    started = time.monotonic()
    facts = lookups.facts(ipaddress.ip_address("1.1.1.1"), own=True, wanted=("asn",))
    assert time.monotonic() - started < 1  # not the 2 s of waiting for room
    assert facts["unavailable"] == ["asn", "as_name", "prefix"]


def test_a_batch_spends_the_budget_for_other_addresses_not_the_visitors(make_app):
    app = make_app(LOOKUP_TIMEOUT=0.3)
    others = app.extensions["lookups"].room[False]
    while others.acquire(blocking=False):  # every place for others' taken
        pass
    client = app.test_client()
    (batch,) = client.post("/api/lookup", json=["1.1.1.1"]).json
    assert batch["unavailable"] == DNS_FIELDS
    own = client.get("/api", environ_base={"REMOTE_ADDR": "1.1.1.1"}).json
    assert (own["asn"], own["unavailable"]) == (13335, [])


def test_with_location_off_the_database_is_not_opened(make_app, tmp_path, caplog):
    make_app(LOOKUPS=parse_lookups("country"), GEO_DB=tmp_path / "missing.mmdb")
    assert "No location database" not in caplog.text
    make_app(GEO_DB=tmp_path / "missing.mmdb")
    assert "No location database" in caplog.text
