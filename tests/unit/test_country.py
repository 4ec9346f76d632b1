"""The registered country: a code named as people call it, and its flag."""

from whatismyip.sources.country import country_facts
from whatismyip.web.templating import flag


def test_country_facts_and_flags():
    assert country_facts("NL") == {"country": "NL", "country_name": "Netherlands"}
    assert country_facts("EU") == {"country": None, "country_name": None}
    assert country_facts(None) == {"country": None, "country_name": None}
    assert flag("US") == "🇺🇸"
    assert flag(None) == ""


def test_a_country_is_named_as_people_call_it():
    assert country_facts("TW")["country_name"] == "Taiwan"
    assert country_facts("BO")["country_name"] == "Bolivia"
