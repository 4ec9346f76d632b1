"""The registered country: where an address's block is registered, from the
regional registries' delegation data that iptocc ships (offline, in
nanoseconds), named by pycountry (ISO 3166)."""

from typing import TypedDict

import iptocc

from ..addresses import IPAddress
from .base import Answer, Origin, Setup, Source


class CountryFacts(TypedDict):
    country: str | None
    country_name: str | None


def country_facts(code: str | None) -> CountryFacts:
    """An ISO 3166-1 alpha-2 code and the country's English name, or nulls for a
    code that is not a country (RIR data has EU and AP for some blocks)."""
    import pycountry  # on the first lookup, not at every worker's boot

    country = pycountry.countries.get(alpha_2=code) if code else None
    if country is None:
        return {"country": None, "country_name": None}
    name = getattr(country, "common_name", None) or country.name
    return {"country": country.alpha_2, "country_name": name}


class CountrySource(Source):
    name = "country"
    fields = tuple(CountryFacts.__annotations__)
    empty = dict.fromkeys(fields)
    instant = True

    @classmethod
    def build(cls, setup: Setup) -> "CountrySource":
        return cls()

    def ask(self, address: IPAddress, deadline: float) -> Answer:
        return Answer(country_facts(iptocc.country_code(str(address))))

    def origin(self) -> Origin:
        return Origin("Regional Internet Registries' delegation data (iptocc)")
