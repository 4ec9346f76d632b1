"""RDAP answers in each registry's shape read into the owner fields, as
untrusted data; the bootstrap table; where an answer is kept; a 429's pause."""

import email.utils
import ipaddress
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support.registries import (
    GOOGLE,
    afrinic_answer,
    apnic_answer,
    arin_answer,
    card,
    entity,
    ripe_answer,
)
from whatismyip.sources.rdap.bootstrap import parse_bootstrap, registry_base
from whatismyip.sources.rdap.client import (
    LONGEST_PAUSE,
    cache_key,
    cache_keys,
    pause_seconds,
)
from whatismyip.sources.rdap.parse import (
    MAX_ENTITIES,
    MAX_TEXT,
    NO_OWNER,
    abuse_contact,
    clean_text,
    owner_facts,
    vcard,
)

ip = ipaddress.ip_address


def test_arin_nests_the_abuse_contact_inside_the_registrant():
    facts = owner_facts(arin_answer(ip("8.8.8.8")), "https://rdap.example/ip/8.8.8.8")
    assert facts == {
        **GOOGLE,
        "source": "https://rdap.example/ip/8.8.8.8",
    }


def test_ripe_gives_the_abuse_role_where_other_contacts_have_no_email():
    facts = owner_facts(ripe_answer(ip("193.0.6.139")), "x")
    assert facts["registry"] == "RIPE NCC"
    assert facts["organization"] == (
        "Reseaux IP Europeens Network Coordination Centre (RIPE NCC)"
    )
    assert facts["abuse"] == {"email": "abuse@ripe.net", "phone": "+31205354444"}
    assert facts["network"]["country"] == "NL"
    assert facts["network"]["cidr"] == ["193.0.0.0/21"]


def test_apnic_phone_as_a_tel_uri_and_afrinic_with_a_bad_date():
    apnic = owner_facts(apnic_answer(ip("1.1.1.1")), "x")
    assert apnic["abuse"] == {
        "email": "helpdesk@apnic.example",
        "phone": "+61-7-3858-3100",
    }
    afrinic = owner_facts(afrinic_answer(ip("41.0.0.1")), "x")
    assert (afrinic["registered"], afrinic["updated"]) == ("2005-11-02T12:00:00Z", None)
    assert afrinic["registry"] == "AFRINIC"


def test_an_answer_missing_its_parts_gives_nulls():
    facts = owner_facts({"objectClassName": "ip network", "port43": 5}, "x")
    assert facts == {
        "registry": None,
        "network": {"name": None, "handle": None, "range": None, "cidr": None,
                    "country": None},
        "organization": None,
        "abuse": None,
        "registered": None,
        "updated": None,
        "source": "x",
    }  # fmt: skip


@pytest.mark.parametrize(
    "address",
    ["abuse@example.com?subject=x", "a b@example.com", "<a>@example.com", "nobody"],
)
def test_an_email_a_mailto_link_cannot_carry_as_it_is_is_left_out(address):
    card = {"vcardArray": ["vcard", [["email", {}, "text", address]]]}
    assert vcard(card) == {}


# JSON of RDAP's words, nested anyhow: what a broken or hostile registry
# could send.
RDAP_WORDS = st.sampled_from(
    ["entities", "roles", "vcardArray", "events", "eventAction", "eventDate",
     "startAddress", "endAddress", "name", "handle", "country", "port43",
     "services", "abuse", "registrant", "fn", "email", "tel", "vcard"]
)  # fmt: skip
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | RDAP_WORDS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(RDAP_WORDS | st.text(max_size=3), inner, max_size=5)
    ),
    max_leaves=40,
)


@given(ANY_JSON)
def test_no_answer_a_registry_can_send_breaks_the_reading(document):
    """Whatever JSON comes, it is read into the fields or into nothing; no
    exception reaches the visitor as a 500."""
    if isinstance(document, dict):
        facts = owner_facts(document, "x")
        assert facts.keys() == NO_OWNER.keys()
    parse_bootstrap(document)


FN, TEL = ["fn", {}, "text", "Abuse desk"], ["tel", {}, "text", "+1-555-0100"]


@pytest.mark.parametrize(
    ("entity", "read"),
    [
        (card(FN, ["fn", {}, "text", "Second"]), {"fn": "Abuse desk"}),  # the first
        (card(["adr", {}, "text", "Main St"], FN), {"fn": "Abuse desk"}),
        (card(["fn", {}, "text"], FN), {"fn": "Abuse desk"}),  # too short: skipped
        (card(["email", {}, "text", "not an address"], TEL), {"tel": "+1-555-0100"}),
        ({"vcardArray": [["fn", {}, "text", "No envelope"]]}, {}),
        ({"vcardArray": ["vcard", [FN], "extra"]}, {}),
        ({"vcardArray": ["vcard", "fn"]}, {}),
        ({"vcardArray": "Google LLC"}, {}),
    ],
)
def test_a_vcard_is_read_only_where_it_has_the_shape_rfc_7095_gives(entity, read):
    assert vcard(entity) == read


def test_the_abuse_contact_is_the_nearest_with_an_email_or_a_phone():
    no_contact = entity(["abuse"], FN)
    phone_only = entity(["abuse"], TEL)
    email_only = entity(["abuse"], ["email", {}, "text", "abuse@example.net"])
    answer = {"entities": [no_contact, entity(["registrant"], entities=[phone_only])]}
    assert abuse_contact(answer) == {"email": None, "phone": "+1-555-0100"}
    answer = {"entities": [entity(["registrant"], entities=[email_only]), no_contact]}
    assert abuse_contact(answer) == {"email": "abuse@example.net", "phone": None}
    # Each entity's own entities are walked, not only the last one's.
    nested = [entity(["registrant"], entities=[phone_only]), entity(["technical"])]
    assert abuse_contact({"entities": nested})["phone"] == "+1-555-0100"


def test_the_walk_stops_after_max_entities():
    filler = [entity(["technical"]) for _ in range(MAX_ENTITIES - 1)]
    last_seen = {"entities": [*filler, entity(["abuse"], TEL)]}
    assert abuse_contact(last_seen) == {"email": None, "phone": "+1-555-0100"}
    one_too_many = {
        "entities": [*filler, entity(["technical"]), entity(["abuse"], TEL)]
    }
    assert abuse_contact(one_too_many) is None


@pytest.mark.parametrize(
    ("start", "end", "range_"),
    [
        ("192.0.2.1", "192.0.2.1", ["192.0.2.1", "192.0.2.1"]),  # one address
        ("192.0.2.9", "192.0.2.1", None),  # backwards
        ("192.0.2.1", "2001:db8::1", None),  # two families
        (5, 6, None),  # numbers, which the ipaddress module would read
    ],
)
def test_a_registered_range_is_two_addresses_in_order(start, end, range_):
    answer = {"startAddress": start, "endAddress": end}
    assert owner_facts(answer, "x")["network"]["range"] == range_


def test_a_range_of_many_prefixes_lists_at_most_32():
    answer = {"startAddress": "0.0.0.1", "endAddress": "255.255.255.254"}
    assert len(owner_facts(answer, "x")["network"]["cidr"]) == 32


def test_a_registrys_text_is_cleaned_and_cut_short():
    assert clean_text("Google\r\nLLC\x00 ") == "Google LLC"
    assert clean_text("x" * 500) == "x" * MAX_TEXT
    assert clean_text(["Google"]) is None
    assert clean_text("  ") is None


def test_the_bootstrap_prefers_https_and_the_longest_prefix_wins():
    table = parse_bootstrap(
        {
            "services": [
                # What is not a service is passed over, and the reading goes on.
                "nonsense",
                [["10.0.0.0/8"], ["https://x.example/"], "a third part"],
                [{"8.8.4.0/24": "prefixes as keys"}, ["https://d.example/"]],
                [["9.0.0.0/8"], ["ftp://c.example/"]],
                [["not a prefix", "8.8.0.0/16"], ["http://b.example/"]],
                [["8.0.0.0/8"], ["http://a.example/", "https://a.example/"]],
            ]
        }
    )
    assert registry_base(table, ip("8.1.1.1")) == "https://a.example/"
    assert registry_base(table, ip("8.8.8.8")) == "http://b.example/"
    assert registry_base(table, ip("8.8.4.4")) == "http://b.example/"
    assert registry_base(table, ip("9.9.9.9")) is None  # no http(s) URL for it
    assert registry_base(table, ip("10.1.1.1")) is None


@pytest.mark.parametrize(
    ("address", "network", "key"),
    [
        # The registered range covers the block: kept for the block.
        ("8.8.8.8", ["8.8.8.0", "8.8.8.255"], "8.8.8.0/24"),
        ("8.1.1.1", ["8.0.0.0", "8.127.255.255"], "8.1.1.0/24"),
        # A smaller network: for the address alone, an IPv6 one's /64.
        ("8.9.9.1", ["8.9.9.0", "8.9.9.7"], "8.9.9.1/32"),
        ("2001:db8:1:2::5", ["2001:db8::", "2001:db8:ffff::"], "2001:db8:1::/48"),
        (
            "2001:db8:1:2::5",
            ["2001:db8:1:2::", "2001:db8:1:2::ff"],
            "2001:db8:1:2::/64",
        ),
        # One address short of the block at either end: the address alone.
        ("8.8.8.8", ["8.8.8.1", "8.8.8.255"], "8.8.8.8/32"),
        ("8.8.8.8", ["8.8.8.0", "8.8.8.254"], "8.8.8.8/32"),
        # Nothing found: the block.
        ("4.4.4.4", None, "4.4.4.0/24"),
    ],
)
def test_an_answer_is_kept_for_the_block_it_covers(address, network, key):
    facts = {"network": {"range": network} if network else None}
    assert cache_key(ip(address), facts) == key
    assert key in cache_keys(ip(address))


def test_retry_after_in_seconds_or_as_a_date_within_bounds():
    now = time.time()
    assert pause_seconds("120", now) == 120
    assert pause_seconds("0", now) == 1
    assert pause_seconds("99999999", now) == LONGEST_PAUSE
    in_ten_minutes = email.utils.formatdate(now + 600, usegmt=True)
    assert 598 <= pause_seconds(in_ten_minutes, now) <= 600
    assert pause_seconds("soon", now) == pause_seconds(None, now) == 60
    a_minute_ago = email.utils.formatdate(now - 60, usegmt=True)
    assert pause_seconds(a_minute_ago, now) == 1
