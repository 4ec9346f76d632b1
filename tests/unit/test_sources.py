"""The registry of sources is the one list: LOOKUPS' choices and message, the
text routes, the OpenAPI document and the templates are made from it or
checked against it. And the example that docs/architecture.md walks through:
a new source is one module and one line in the registry."""

import ipaddress
import json
import re

import pytest

from support.serving import ROOT
from whatismyip.config import SettingError, parse_lookups
from whatismyip.sources import NAMES, SOURCES
from whatismyip.sources.base import Answer, Source
from whatismyip.sources.engine import Engine
from whatismyip.web.pages import TEXT_FACTS

OPENAPI = json.loads((ROOT / "static" / "openapi.json").read_text())


def test_lookups_takes_every_registered_source_and_says_so():
    assert parse_lookups(None) == frozenset(NAMES)
    with pytest.raises(SettingError) as refused:
        parse_lookups("tides")
    assert str(refused.value) == (
        "LOOKUPS takes country, asn, hostname, location and owner, not tides"
    )


def test_every_text_route_names_a_field_of_its_source():
    fields = {source.name: source.fields for source in SOURCES}
    for name, fact in TEXT_FACTS.items():
        if fact.source is not None:
            assert fact.field in fields[fact.source], name


def test_every_source_of_address_facts_has_a_text_route():
    routed = {fact.source for fact in TEXT_FACTS.values()}
    assert {s.name for s in SOURCES if s.in_address_facts} <= routed


@pytest.mark.parametrize("source", SOURCES, ids=lambda source: source.name)
def test_the_openapi_document_describes_every_field(source):
    schemas = OPENAPI["components"]["schemas"]
    names = ["Lookup", "Report"] if source.in_address_facts else [source.name.title()]
    for name in names:
        assert set(source.fields) <= set(schemas[name]["properties"]), name


@pytest.mark.parametrize("source", SOURCES, ids=lambda source: source.name)
def test_the_templates_show_every_field(source):
    """Address facts on the card every address page has; any other source on
    a card of its own, named after it."""
    if source.in_address_facts:
        template, variable = "address_facts.html", "facts"
    else:
        template, variable = f"{source.name}.html", source.name
    shown = set(
        re.findall(rf"\b{variable}\.(\w+)", (ROOT / "templates" / template).read_text())
    )
    assert set(source.fields) <= shown


# --- The example: a new source ------------------------------------------------------


class DecimalSource(Source):
    """The address as one number, as ifconfig.co's `ip_decimal`: answered in
    process, so `instant`, with no budget or cache."""

    name = "decimal"
    fields = ("ip_decimal",)
    empty = {"ip_decimal": None}
    instant = True

    @classmethod
    def build(cls, setup):
        return cls()

    def ask(self, address, deadline):
        return Answer({"ip_decimal": int(address)})


def test_the_example_source_answers_through_the_engine():
    engine = Engine([DecimalSource.build(None)])
    (answers,) = engine.answers(
        [ipaddress.ip_address("8.8.8.8")], own=True, names=["decimal"]
    )
    assert answers == {"decimal": Answer({"ip_decimal": 134744072})}
