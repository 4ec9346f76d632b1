"""The network and the hostname asked of a real DNS server (dnsmasq) that the
tests start on loopback, serving PTR, A/AAAA and Team Cymru-style TXT
records; and resolvers that are slow, silent, or drop chosen questions."""

import ipaddress
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from support.clients import BROWSER, CURL
from support.serving import (
    GOOGLE_V6,
    DroppingResolver,
    SlowResolver,
    wait_for,
)
from support.sources import DNS_FIELDS, breaker, kept, reporter
from whatismyip.config import (
    parse_lookups,
    parse_resolvers,
)
from whatismyip.sources.base import Answer

THIS_MONTH = time.strftime("%Y-%m", time.gmtime())  # the test database's


@pytest.fixture
def client(make_app, dns_server):
    """An app asking only the test DNS server, behind one trusted proxy."""
    return make_app(
        TRUSTED_PROXY_HOPS=1, DNS_RESOLVER=parse_resolvers(dns_server.address)
    ).test_client()


def lookup(client, address):
    return client.get(f"/api/lookup/{address}")


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


def test_answers_are_kept_for_their_ttl_in_a_bounded_cache(dns_server):
    lookups = reporter(None, dns_server.address, 2, cache_size=1)
    for address in ("8.8.8.8", "1.1.1.1"):
        assert lookups.facts(ipaddress.ip_address(address), own=True)["asn"]
    one = ipaddress.ip_address("1.1.1.1")
    # One entry a source at most: the least recently used (8.8.8.8's) went first.
    assert set(kept(lookups)) == {("asn", one), ("hostname", one)}
    for expires in kept(lookups).values():  # the records' TTL, 300 s here
        assert 290 < expires - time.monotonic() <= 300

    def asked():
        return len(dns_server.queries("1.1.1.1.in-addr.arpa"))

    before = asked()
    lookups.facts(one, own=True)
    assert asked() == before  # kept
    # Past its time, as its records are past their TTL in the resolver's cache.
    lookups.engine.caches["hostname"].entries[one] = (time.monotonic() - 1, Answer({}))
    breaker_resolver = lookups.engine.sources["hostname"].resolver
    breaker_resolver.resolver.cache.flush()
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


def test_an_answer_kept_is_used_without_asking_again(dns_server):
    lookups = reporter("asn", dns_server.address, 2)
    one = ipaddress.ip_address("1.1.1.1")
    assert lookups.facts(one, own=True, wanted=("asn",))["asn"] == 13335
    lookups.engine.sources["asn"].resolver.resolver.cache.flush()  # only ours left
    before = len(dns_server.queries("1.1.1.1.origin.asn.cymru.com"))
    assert lookups.facts(one, own=True, wanted=("asn",))["asn"] == 13335
    assert len(dns_server.queries("1.1.1.1.origin.asn.cymru.com")) == before


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


def test_a_fact_unavailable_says_how_long_to_wait(make_app):
    app = make_app()
    lookups = app.extensions["reporter"]
    assert lookups.retry_after() == 5  # the breaker is closed
    for _ in range(5):
        breaker(lookups).timed_out(time.monotonic())
    assert lookups.retry_after() == 30  # what the breaker has left


def test_a_silent_resolver_opens_the_breaker_within_the_time_limit(silent):
    lookups = reporter(None, silent.address, 0.2)
    for n in range(5):
        address = ipaddress.ip_address(f"9.9.9.{n}")
        facts = lookups.facts(address, own=True, wanted=("asn",))
        assert facts["unavailable"] == ["asn", "as_name", "prefix"]
    wait_for(lambda: breaker(lookups).is_open(time.monotonic()), timeout=3,
             what="five timeouts in a row opened the breaker")  # fmt: skip
    received = silent.received
    lookups.facts(ipaddress.ip_address("9.9.9.9"), own=True, wanted=("asn",))
    assert silent.received == received  # skipped while open


def test_every_source_that_got_no_answer_is_listed(silent):
    lookups = reporter(None, silent.address, 0.2)
    wanted = ("country", "asn", "hostname")
    facts = lookups.facts(ipaddress.ip_address("9.9.9.9"), own=True, wanted=wanted)
    assert facts["unavailable"] == DNS_FIELDS
    assert facts["country"] == "US"  # the offline source still answers


def test_only_the_sources_turned_on_are_asked_and_the_rest_unavailable(dns_server):
    lookups = reporter("hostname", dns_server.address, 2)
    facts = lookups.facts(ipaddress.ip_address("8.8.8.8"), own=False)
    assert facts["hostname"] == "dns.google"
    assert facts["unavailable"] == [
        "country", "country_name", "asn", "as_name", "prefix",
        "city", "region", "geo_country", "latitude", "longitude", "time_zone",
    ]  # fmt: skip


def test_concurrent_first_questions_in_one_worker_share_one_query(dns_server, slow):
    lookups = reporter("hostname", slow.address, 2)
    before = len(dns_server.queries("1.1.1.1.in-addr.arpa"))
    start = threading.Barrier(8)

    def ask(_):
        start.wait()
        return lookups.facts(ipaddress.ip_address("1.1.1.1"), own=True)["hostname"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(ask, range(8))) == {"claims-to-be.example"}
    assert len(dns_server.queries("1.1.1.1.in-addr.arpa")) == before + 1
    assert lookups.engine.in_flight == {}  # nothing left in flight


def test_a_lone_question_with_no_room_is_answered_at_once_not_queued(dns_server):
    lookups = reporter("asn", dns_server.address, 2)
    room = lookups.engine.budgets["dns", True]
    while room.acquire(blocking=False):  # every place taken, as under a flood
        pass
    started = time.monotonic()
    facts = lookups.facts(ipaddress.ip_address("1.1.1.1"), own=True, wanted=("asn",))
    assert time.monotonic() - started < 1  # not the 2 s of waiting for room
    assert facts["unavailable"] == ["asn", "as_name", "prefix"]


def test_a_batch_spends_the_budget_for_other_addresses_not_the_visitors(make_app):
    app = make_app(LOOKUP_TIMEOUT=0.3)
    others = app.extensions["reporter"].engine.budgets["dns", False]
    while others.acquire(blocking=False):  # every place for others' taken
        pass
    client = app.test_client()
    (batch,) = client.post("/api/lookup", json=["1.1.1.1"]).json
    assert batch["unavailable"] == DNS_FIELDS
    own = client.get("/api", environ_base={"REMOTE_ADDR": "1.1.1.1"}).json
    assert (own["asn"], own["unavailable"]) == (13335, [])


def test_a_batch_is_looked_up_together_within_one_time_limit(make_app, dns_server):
    """Thirty addresses, each of whose two questions the resolver answers 100 ms
    late: one address after another they would take three seconds, and with
    no more room than a single lookup has, most would be left unavailable.
    Asked together, waiting for room within the one time limit (a second
    here), all are answered within it: the time is the feature."""
    slow = SlowResolver(dns_server)
    try:
        client = make_app(
            DNS_RESOLVER=parse_resolvers(slow.address), LOOKUP_TIMEOUT=1
        ).test_client()
        # The last one is known, and asked only once room came free.
        addresses = [f"9.9.{n}.9" for n in range(29)] + ["8.8.8.8"]
        began = time.monotonic()
        answers = batch(client, addresses).json
        took = time.monotonic() - began
    finally:
        slow.close()
    assert [entry["ip"] for entry in answers] == addresses
    assert all(entry["unavailable"] == [] for entry in answers), answers
    assert (answers[-1]["asn"], answers[-1]["hostname"]) == (15169, "dns.google")
    assert took < 2, f"took {took:.1f} s: not within one lookup's time limit"


def test_a_partial_answer_says_which_fields_are_missing(dns_server):
    """The AS name and the forward confirmation are asked of a resolver that
    drops exactly those questions: the network and the name stand, and
    `unavailable` lists both missing fields."""
    dropping = DroppingResolver(
        dns_server, drop=(r"AS\d+\.asn\.cymru\.com\.", r"dns\.google\.")
    )
    try:
        lookups = reporter(
            "country,asn,hostname",
            dropping.address,
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
    assert kept(lookups) == {}  # an incomplete answer is not kept


def test_the_registered_country_asks_no_resolver(make_app, silent):
    client = make_app(DNS_RESOLVER=parse_resolvers(silent.address)).test_client()
    answer = client.get(
        "/country", headers=CURL, environ_base={"REMOTE_ADDR": "8.8.8.8"}
    )
    assert answer.text == "US\n"
    assert silent.received == 0


def test_with_location_off_the_database_is_not_opened(make_app, tmp_path, caplog):
    make_app(LOOKUPS=parse_lookups("country"), GEO_DB=tmp_path / "missing.mmdb")
    assert "No location database" not in caplog.text
    make_app(GEO_DB=tmp_path / "missing.mmdb")
    assert "No location database" in caplog.text


FROM_GOOGLE = {"REMOTE_ADDR": "8.8.8.8"}  # a visitor the test DNS server knows


def batch(client, body, content_type="application/json"):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(
        "/api/lookup", data=data, content_type=content_type, environ_base=FROM_GOOGLE
    )
