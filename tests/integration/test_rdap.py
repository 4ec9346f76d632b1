"""Who runs an address, asked of stand-in registries on loopback (support/
registries.py): kept by block, in each worker and in Redis, polite to a
registry that says "too many", and bounded in time and size whatever a
registry does."""

import ipaddress
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import orjson
import pytest
import redis

from support.clients import BROWSER
from support.registries import (
    GOOGLE,
    LACNIC_PAUSE,
    stand_in_registries,
)
from support.serving import wait_for
from whatismyip.infra.redis_store import RedisStore
from whatismyip.sources import rdap as owners
from whatismyip.sources.base import Answer
from whatismyip.sources.rdap import FOUND_TTL, bootstrap
from whatismyip.sources.rdap import shared as shared_module
from whatismyip.sources.rdap.client import MAX_ANSWER_BYTES, PER_REGISTRY, USER_AGENT
from whatismyip.sources.rdap.parse import NO_OWNER
from whatismyip.sources.rdap.shared import (
    INDEX_KEY,
    READ_ANSWERS,
    SHARED_TTL,
    SharedCache,
)

# Every test here: no registry answer ends in the catch-all.
pytestmark = pytest.mark.usefixtures("nothing_unforeseen")

ip = ipaddress.ip_address


def questions(registries, before) -> dict:
    """What the registries were asked about addresses since `before`."""
    return {p: n for p, n in (registries.asked - before).items() if "/ip/" in p}


def test_an_address_is_answered_from_its_registry(client):
    answer = client.get("/api/owner/8.8.8.8").json
    source = answer.pop("source")
    assert answer == {"ip": "8.8.8.8", **GOOGLE, "unavailable": []}
    assert source == f"{stand_in_registries().url}/arin/ip/8.8.8.8"


def test_one_answer_serves_its_block_and_no_more(make_app, registries):
    client = make_app().test_client()
    before = registries.asked.copy()
    assert client.get("/api/owner/8.8.8.20").json["network"]["name"] == "GOGL"
    assert client.get("/api/owner/8.8.8.21").json["network"]["name"] == "GOGL"
    # Level 3's /9 holds Google's /24: its answer is Level 3's block's alone.
    assert (
        client.get("/api/owner/8.1.1.1").json["organization"] == "Level 3 Parent, LLC"
    )
    assert (
        client.get("/api/owner/8.1.1.2").json["organization"] == "Level 3 Parent, LLC"
    )
    # A network smaller than a block serves only the address asked.
    assert client.get("/api/owner/8.9.9.1").json["network"]["name"] == "SMALL-SHOP"
    assert client.get("/api/owner/8.9.9.9").json["network"]["name"] == "LVLT-ORG-8-8"
    assert (registries.asked - before)["/bootstrap/ipv4.json"] == 1  # kept a day
    assert sorted(questions(registries, before)) == [
        "/arin/ip/8.1.1.1",
        "/arin/ip/8.8.8.20",
        "/arin/ip/8.9.9.1",
        "/arin/ip/8.9.9.9",
    ]


def test_ipv6_and_the_registrys_name_from_its_answer(client):
    answer = client.get("/api/owner/2001:67c:2e8::1").json
    assert answer["registry"] == "RIPE NCC"
    assert answer["network"]["cidr"] == ["2001:67c:2e8::/48"]
    # Listed over http and https: asked over https.
    assert answer["source"].startswith(stand_in_registries().tls_url)
    assert client.get("/api/owner/2001:4860:4860::8888").json["registry"] == "ARIN"


def test_a_moved_block_is_followed_to_the_other_registry_over_https(client):
    answer = client.get("/api/owner/9.9.9.9").json
    assert answer["registry"] == "RIPE NCC"
    assert answer["source"] == f"{stand_in_registries().tls_url}/ripe/ip/9.9.9.9"


def test_a_redirect_to_plain_http_is_not_followed(client, registries):
    before = registries.asked.copy()
    assert client.get("/api/owner/12.1.1.1").json["unavailable"] == ["owner"]
    assert (registries.asked - before)["/ripe/ip/12.1.1.1"] == 0


def test_three_redirects_are_followed_and_a_chunked_answer_read_whole(client):
    assert client.get("/api/owner/13.1.1.1").json["registry"] == "RIPE NCC"
    padded = client.get("/api/owner/19.1.1.1").json  # 300 KB in chunks
    assert padded["organization"] == "Level 3 Parent, LLC"


def test_a_retry_after_date_pauses_the_registry_until_then(client, caplog):
    assert client.get("/api/owner/18.1.1.1").json["unavailable"] == ["owner"]
    (said,) = [m for m in caplog.messages if "/busy/ answered 429" in m]
    pause = int(said.split("not asked for ")[1].split()[0])
    assert 590 <= pause <= 600


def test_concurrent_askers_of_one_address_share_one_question(client, registries):
    before = registries.asked.copy()
    start = threading.Barrier(5)

    def ask(_):
        start.wait()
        return client.get("/api/owner/16.1.1.1").json["organization"]

    with ThreadPoolExecutor(max_workers=5) as pool:
        assert set(pool.map(ask, range(5))) == {"Level 3 Parent, LLC"}
    assert questions(registries, before) == {"/slow/ip/16.1.1.1": 1}


def test_with_every_place_taken_a_question_is_answered_at_once(app):
    others = app.extensions["reporter"].engine.budgets["rdap", False]
    while others.acquire(blocking=False):  # every place for others' taken
        pass
    started = time.monotonic()
    answer = app.test_client().get("/api/owner/8.8.8.40").json
    assert time.monotonic() - started < 0.5  # not RDAP_TIMEOUT, not forever
    assert answer["unavailable"] == ["owner"]


def test_a_silent_registry_holds_no_more_than_its_own_places(make_app):
    client = make_app(RDAP_TIMEOUT=0.2).test_client()
    for n in range(owners.BUDGET.other):  # each a question that hangs
        assert client.get(f"/api/owner/5.6.7.{n}").json["unavailable"] == ["owner"]
    wait_for(
        lambda: client.get("/api/owner/8.8.8.41").json["unavailable"] == [],
        what="a place for another registry while one hangs",
    )


def test_others_hanging_on_a_registry_leave_visitors_their_own_owner_card(make_app):
    """Lookups of other addresses spend a budget of their own: while they wait
    on a registry that never answers (eight of them, every place a worker once
    had for all of its registry questions), a visitor's own network is still
    asked and answered."""
    app = make_app(TRUSTED_PROXY_HOPS=1, RDAP_TIMEOUT=2.0)
    client = app.test_client()
    engine = app.extensions["reporter"].engine
    with ThreadPoolExecutor(max_workers=8) as pool:
        hanging = [pool.submit(client.get, f"/api/owner/5.6.9.{n}") for n in range(8)]
        wait_for(
            lambda: len(engine.in_flight) == owners.BUDGET.other,
            what="every place for others taken",
        )
        own = client.get("/api/owner", headers={"X-Forwarded-For": "8.8.8.8"})
        assert own.json["organization"] == "Google LLC"
        assert own.json["unavailable"] == []
        assert [f.result().json["unavailable"] for f in hanging] == [["owner"]] * 8


def test_a_silent_registry_gets_its_places_back_once_its_questions_time_out(
    make_app, registries
):
    client = make_app(RDAP_TIMEOUT=0.2).test_client()
    for n in range(PER_REGISTRY):  # every place it has, each left hanging
        assert client.get(f"/api/owner/5.6.8.{n}").json["unavailable"] == ["owner"]

    def asked_again():
        client.get("/api/owner/5.6.8.99")
        return registries.asked["/silent/ip/5.6.8.99"]

    wait_for(asked_again, what="the silent registry asked again")


def test_a_network_no_registry_holds_is_said_to_be_none(client):
    answer = client.get("/api/owner/4.4.4.4").json
    assert answer["network"] is None
    assert answer["unavailable"] == []
    assert answer["source"].endswith("/arin/ip/4.4.4.4")


def test_a_network_not_found_is_asked_again_sooner_than_one_found(
    client, registries, monkeypatch
):
    monkeypatch.setattr(owners, "NOT_FOUND_TTL", 0.5)  # an hour, on a dyno
    before = registries.asked.copy()
    for _ in range(2):  # the found one first: kept as briefly, it would be gone first
        assert client.get("/api/owner/8.8.8.42").json["network"] is not None
        assert client.get("/api/owner/4.4.4.5").json["network"] is None
    assert questions(registries, before) == {
        "/arin/ip/4.4.4.5": 1,
        "/arin/ip/8.8.8.42": 1,
    }
    wait_for(
        lambda: (
            client.get("/api/owner/4.4.4.5")
            and registries.asked["/arin/ip/4.4.4.5"] == before["/arin/ip/4.4.4.5"] + 2
        ),
        what="the network not found asked again",
    )
    client.get("/api/owner/8.8.8.42")
    assert registries.asked["/arin/ip/8.8.8.42"] == before["/arin/ip/8.8.8.42"] + 1


def test_too_many_requests_leaves_the_registry_alone_as_long_as_it_asks(
    client, registries, caplog
):
    before = registries.asked.copy()
    for address in ("200.1.1.1", "200.2.2.2", "200.3.3.3"):
        answer = client.get(f"/api/owner/{address}").json
        assert answer["unavailable"] == ["owner"]
        assert answer["network"] is None
    asked = registries.asked - before
    assert sum(n for path, n in asked.items() if path.startswith("/lacnic/")) == 1
    lacnic = f"{registries.url}/lacnic/"
    assert f"RDAP {lacnic} answered 429: not asked for {LACNIC_PAUSE} s" in (
        caplog.messages
    )
    # Other registries are asked meanwhile.
    assert client.get("/api/owner/41.0.0.1").json["registry"] == "AFRINIC"


def test_a_registry_is_asked_for_rdap_and_told_who_asks(client, registries):
    client.get("/api/owner/41.0.0.77")
    headers = registries.headers["/afrinic/ip/41.0.0.77"]
    assert headers["Accept"] == "application/rdap+json"
    assert headers["User-Agent"] == USER_AGENT


def test_an_answer_of_exactly_the_size_limit_is_read(client):
    answer = client.get("/api/owner/21.1.1.1").json
    assert answer["unavailable"] == []
    assert answer["organization"] == "Level 3 Parent, LLC"
    assert MAX_ANSWER_BYTES == 1024 * 1024  # as the README says


def test_an_answer_over_the_size_limit_is_refused_once_it_passes_it(make_app):
    """The cap is counted as the answer arrives: a registry that sends 2 MB and
    then nothing more is refused at once, not when the time limit ends."""
    client = make_app(RDAP_TIMEOUT=5).test_client()
    started = time.monotonic()
    assert client.get("/api/owner/11.2.2.2").json["unavailable"] == ["owner"]
    assert time.monotonic() - started < 2


def test_an_error_no_code_path_foresaw_is_unavailable_and_one_log_line(client, caplog):
    response = client.get("/api/owner/20.1.2.3")  # redirected to https://[::1/ip
    assert response.status_code == 200
    assert response.json["unavailable"] == ["owner"]
    said = [m for m in caplog.messages if m.startswith("RDAP")]
    assert said == ["RDAP answer about 20.1.2.3 could not be read (ValueError)"]
    caplog.clear()  # expected here, unlike anywhere else (nothing_unforeseen)


@pytest.mark.parametrize(
    "path", ["/api/owner/22.1.2.3", "/22.1.2.3", "/lookup?address=22.1.2.3"]
)
def test_a_network_of_the_other_family_is_unavailable_not_a_500(client, caplog, path):
    """A registry that answers an IPv4 address with an IPv6 network: nowhere to
    keep it, and nothing to show. Every route that asks says so and goes on."""
    response = client.get(path, headers=BROWSER if "api" not in path else {})
    assert response.status_code == 200
    if "api" in path:
        assert response.json["unavailable"] == ["owner"]
    else:
        assert "The registry could not be asked just now" in response.text
    said = [m for m in caplog.messages if m.startswith("RDAP")]
    assert said == ["RDAP answer about 22.1.2.3 could not be read (ValueError)"]
    caplog.clear()  # expected here, unlike anywhere else (nothing_unforeseen)


@pytest.mark.parametrize(
    "address",
    ["5.5.5.5", "6.6.6.6", "11.1.1.1", "7.7.7.7", "3.3.3.3", "17.1.1.1", "14.1.1.1"],
    ids=["never-answers", "5-MB", "2-MB-chunked-then-silent", "not-json", "refused",
         "entity", "four-redirects"],
)  # fmt: skip
def test_a_misbehaving_registry_ends_in_unavailable_within_the_time_limit(
    make_app, address
):
    client = make_app(RDAP_TIMEOUT=0.5).test_client()
    started = time.monotonic()
    response = client.get(f"/api/owner/{address}")
    took = time.monotonic() - started
    assert response.status_code == 200
    assert response.json["unavailable"] == ["owner"]
    assert took < 0.5 + 0.3


def test_private_addresses_ask_nobody_and_nonsense_is_a_400(client, registries):
    before = registries.asked.copy()
    answer = client.get("/api/owner/10.1.2.3").json
    assert answer == {
        "ip": "10.1.2.3",
        **dict.fromkeys([*GOOGLE, "source"]),
        "unavailable": [],
    }
    assert registries.asked - before == {}
    response = client.get("/api/owner/8.8.8.8%25eth0")
    assert response.status_code == 400
    assert "zone" in response.json["error"]["message"]


def test_a_visitor_without_an_ip_address_asks_nobody(client, registries):
    # As gunicorn reports a peer on a Unix socket.
    before = registries.asked.copy()
    answer = client.get("/api/owner", environ_base={"REMOTE_ADDR": ""}).json
    assert answer == {
        "ip": None,
        **dict.fromkeys([*GOOGLE, "source"]),
        "unavailable": [],
    }
    assert registries.asked - before == {}


def test_the_visitors_own_network(dyno_client):
    answer = dyno_client.get("/api/owner", headers={"X-Forwarded-For": "8.8.8.8"})
    assert answer.json["ip"] == "8.8.8.8"
    assert answer.json["organization"] == "Google LLC"


def test_an_unreadable_bootstrap_is_logged_and_asked_again_only_later(
    make_app, registries, caplog, monkeypatch
):
    monkeypatch.setattr(bootstrap, "BOOTSTRAP_RETRY", 1.0)  # a minute, on a dyno
    client = make_app(RDAP_BOOTSTRAP_URL=f"{registries.url}/gone/").test_client()
    before = registries.asked.copy()
    for address in ("8.8.8.8", "8.1.1.1", "193.0.6.139"):
        assert client.get(f"/api/owner/{address}").json["unavailable"] == ["owner"]
    assert registries.asked - before == {"/gone/ipv4.json": 1}
    assert f"RDAP bootstrap {registries.url}/gone/ipv4.json could not be read" in (
        caplog.messages
    )
    wait_for(
        lambda: (
            client.get("/api/owner/8.8.8.9")
            and registries.asked["/gone/ipv4.json"] == before["/gone/ipv4.json"] + 2
        ),
        what="the bootstrap asked again once its wait was over",
    )


def test_turned_off_the_owner_is_a_404_and_the_page_has_no_card(make_app):
    client = make_app(LOOKUPS=frozenset({"country"})).test_client()
    response = client.get("/api/owner/8.8.8.8")
    assert response.status_code == 404
    assert response.json["error"]["message"] == (
        "This site does not look up who runs an address (LOOKUPS)."
    )
    page = client.get("/lookup?address=8.8.8.8", headers=BROWSER)
    assert page.status_code == 200
    assert "United States" in page.text  # the lookup itself, as ever
    assert "Who runs this network" not in page.text


def test_lookups_of_others_count_against_the_lookup_limit_own_ones_do_not(make_app):
    client = make_app(LOOKUP_RATE_LIMIT="2/minute", TRUSTED_PROXY_HOPS=1).test_client()
    who = {"X-Forwarded-For": "203.0.113.7"}
    statuses = [
        client.get("/api/owner/8.8.8.8", headers=who).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    assert client.get("/api/owner", headers=who).status_code == 200


def test_the_lookup_page_shows_who_runs_the_network(client):
    page = client.get("/lookup?address=193.0.6.139", headers=BROWSER).text
    card = page[page.index('<section class="card owner"') :]
    assert '<dd class="organization">Reseaux IP Europeens Network Coordination ' in card
    assert '<a class="abuse" href="mailto:abuse@ripe.net">abuse@ripe.net</a>' in card
    assert 'RIPE-NCC <span class="note">(NL)</span>' in card
    assert 'RIPE NCC <span class="note">· registered 2003-03-17</span>' in card


def test_the_lookup_page_says_when_the_registry_could_not_be_asked(make_app):
    client = make_app(RDAP_TIMEOUT=0.2).test_client()
    page = client.get("/lookup?address=5.5.5.6", headers=BROWSER).text
    assert "The registry could not be asked just now" in page


def test_the_own_page_links_the_lookup_page_and_its_script_fetches_the_card(
    dyno_client,
):
    who = {**BROWSER, "X-Forwarded-For": "193.0.6.139"}
    page = dyno_client.get("/", headers=who).text
    assert 'data-owner-url="/owner-card"' in page
    assert '<a href="/lookup?address=193.0.6.139">See who runs this network' in page
    assert "abuse@ripe.net" not in page  # not asked before the page is sent
    card = dyno_client.get("/owner-card", headers=who).text
    assert 'href="mailto:abuse@ripe.net"' in card


def test_one_dynos_answer_serves_every_dyno_through_redis(
    make_app, registries, shared_redis
):
    dynos = [make_app(REDIS_URL=shared_redis.url).test_client() for _ in range(2)]
    before = registries.asked.copy()
    first = dynos[0].get("/api/owner/41.0.0.9").json
    second = dynos[1].get("/api/owner/41.0.0.10").json
    assert first["organization"] == second["organization"] == "Example Telecom Ltd"
    assert questions(registries, before) == {"/afrinic/ip/41.0.0.9": 1}
    kept = redis.Redis.from_url(shared_redis.url)
    assert kept.ttl("owner2:41.0.0.0/24") > FOUND_TTL - 10


def test_a_worker_keeps_what_it_read_from_redis(make_app, registries, shared_redis):
    dynos = [make_app(REDIS_URL=shared_redis.url).test_client() for _ in range(2)]
    dynos[0].get("/api/owner/41.0.1.9")
    assert dynos[1].get("/api/owner/41.0.1.10").json["registry"] == "AFRINIC"
    redis.Redis.from_url(shared_redis.url).flushall()
    before = registries.asked.copy()
    again = dynos[1].get("/api/owner/41.0.1.11").json
    assert again["organization"] == "Example Telecom Ltd"
    assert questions(registries, before) == {}


def test_redis_keeps_a_bounded_number_of_answers_the_oldest_going_first(
    shared_redis, monkeypatch
):
    monkeypatch.setattr(shared_module, "SHARED_ANSWERS", 3)
    kept = redis.Redis.from_url(shared_redis.url)
    kept.flushall()
    shared = SharedCache(RedisStore(shared_redis.url))
    for n in range(5):
        shared.put(f"192.0.{n}.0/24", {**NO_OWNER, "source": f"s{n}"}, 60)
    assert sorted(kept.keys("owner2:*")) == [
        b"owner2:192.0.2.0/24",
        b"owner2:192.0.3.0/24",
        b"owner2:192.0.4.0/24",
    ]
    assert kept.zcard(INDEX_KEY) == 3
    assert shared.get(("192.0.0.0/24", "192.0.4.0/24")) == (
        "192.0.4.0/24",
        Answer({**NO_OWNER, "source": "s4"}, ttl=SHARED_TTL),
    )


def test_an_answer_of_another_shape_in_redis_is_not_used(shared_redis):
    kept = redis.Redis.from_url(shared_redis.url)
    kept.set("owner2:198.51.100.0/24", b'{"registry": "ARIN"}')
    kept.set("owner2:198.51.101.0/24", b"not json")
    kept.set("owner2:198.51.102.9/32", orjson.dumps({**NO_OWNER, "source": "s"}))
    shared = SharedCache(RedisStore(shared_redis.url))
    assert shared.get(("198.51.100.0/24", "198.51.101.0/24")) is None
    assert shared.get(("198.51.101.0/24", "198.51.102.9/32")) == (
        "198.51.102.9/32",
        Answer({**NO_OWNER, "source": "s"}, ttl=SHARED_TTL),
    )


def test_the_script_is_sent_whole_once_then_by_its_digest(shared_redis):
    kept = redis.Redis.from_url(shared_redis.url)
    kept.script_flush()
    kept.config_resetstat()
    store = RedisStore(shared_redis.url)
    for n in range(3):
        assert store.call(READ_ANSWERS, [f"owner2:203.0.113.{n}/32"], [], 0.0) == [None]
    calls = kept.info("commandstats")
    assert calls["cmdstat_eval"]["calls"] == 1
    assert calls["cmdstat_evalsha"]["calls"] == 3  # the first, unknown, then known
    assert calls["cmdstat_evalsha"]["failed_calls"] == 1


def test_each_worker_keeps_a_bounded_number_of_answers(
    make_app, registries, monkeypatch
):
    monkeypatch.setattr(owners.OwnerSource, "cache_size", 2)
    client = make_app().test_client()
    before = registries.asked.copy()
    for address in ("8.8.8.30", "193.0.6.30", "1.1.1.30", "8.8.8.31", "1.1.1.31"):
        assert client.get(f"/api/owner/{address}").json["unavailable"] == []
    # Two are kept, the newest: 8.8.8.x had gone when it was asked again.
    assert sorted(questions(registries, before)) == [
        "/apnic/ip/1.1.1.30",
        "/arin/ip/8.8.8.30",
        "/arin/ip/8.8.8.31",
        "/ripe/ip/193.0.6.30",
    ]


def test_without_redis_the_registry_is_asked_and_the_answer_kept_here(make_app):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    client = make_app(REDIS_URL=f"redis://127.0.0.1:{port}/0").test_client()
    for _ in range(2):
        answer = client.get("/api/owner/1.1.1.1").json
        assert answer["organization"] == "APNIC Research and Development"
