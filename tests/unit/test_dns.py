"""The DNS sources' pure parts: Team Cymru's names and records read, answers'
TTLs within bounds, and the resolver's breaker."""

import ipaddress
from types import SimpleNamespace

import pytest

from support.serving import (
    GOOGLE_V6,
    GOOGLE_V6_NIBBLES,
)
from whatismyip.sources.dns import (
    Breaker,
    cymru_origin_name,
    parse_as_name,
    parse_origin,
    ttl_for,
    txt,
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


def test_numbers_from_dns_that_are_no_as_number_are_not_shown():
    assert parse_origin(["4294967296 | 8.8.8.0/24 | US | arin | 2023-12-28"]) is None
    assert parse_origin(["4294967295 | 8.8.8.0/24 | US"]) == (4294967295, "8.8.8.0/24")
    assert parse_origin(["-1 | 8.8.8.0/24 | US"]) is None


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


def test_a_txt_record_is_its_strings_joined_and_read_as_utf8():
    record = SimpleNamespace(strings=(b"15169 | GOOGLE", b" - Google \xff"))
    assert txt(record) == "15169 | GOOGLE - Google \ufffd"


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


def test_the_breaker_says_it_closed_after_exactly_five_timeouts(caplog):
    breaker = Breaker()
    for _ in range(5):
        breaker.timed_out(1.0)
    breaker.answered()
    assert caplog.records[-1].getMessage() == (
        "DNS resolver answering again: lookups resumed"
    )


def test_cymru_names():
    assert cymru_origin_name(ipaddress.ip_address("8.8.4.4")) == (
        "4.4.8.8.origin.asn.cymru.com"
    )
    assert cymru_origin_name(ipaddress.ip_address(GOOGLE_V6)) == (
        f"{GOOGLE_V6_NIBBLES}.origin6.asn.cymru.com"
    )


def test_answers_are_kept_for_their_ttl_within_bounds():
    assert ttl_for(300) == 300
    assert ttl_for(0) == 60
    assert ttl_for(86400 * 7) == 3600
