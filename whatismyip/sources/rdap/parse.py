"""An RDAP "ip network" answer (RFC 9083) read as the owner fields: data from
outside, read as untrusted: every string cleaned and cut, every shape checked,
the walk through nested entities bounded."""

import ipaddress
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TypedDict

# A registry names itself in its answer by its WHOIS server (port43), so that a
# mirror or a stand-in is named for the registry it answers as.
REGISTRIES = {
    "whois.arin.net": "ARIN",
    "whois.ripe.net": "RIPE NCC",
    "whois.apnic.net": "APNIC",
    "whois.lacnic.net": "LACNIC",
    "whois.afrinic.net": "AFRINIC",
}
# What an answer about an address must say it is (RFC 9083, 5.4).
IP_NETWORK = "ip network"
# Text from a registry is cut to this length before anyone sees it.
MAX_TEXT = 200
# Entities nest (a registrant's contacts); the walk for the abuse contact stops
# this deep, and after this many.
MAX_DEPTH, MAX_ENTITIES = 4, 200


class Network(TypedDict):
    name: str | None
    handle: str | None
    range: list[str] | None
    cidr: list[str] | None
    country: str | None


class Abuse(TypedDict):
    email: str | None
    phone: str | None


class OwnerFacts(TypedDict):
    registry: str | None
    network: Network | None
    organization: str | None
    abuse: Abuse | None
    registered: str | None
    updated: str | None
    source: str | None


OWNER_FIELDS = tuple(OwnerFacts.__annotations__)
NO_OWNER: OwnerFacts = {
    "registry": None,
    "network": None,
    "organization": None,
    "abuse": None,
    "registered": None,
    "updated": None,
    "source": None,
}


def clean_text(value: Any) -> str | None:
    """A registry's string, fit to show: control characters dropped, spaces
    squeezed, cut short; None for anything else or nothing."""
    if not isinstance(value, str):
        return None
    text = " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", value).split())[:MAX_TEXT]
    return text or None


# An address a mailto: link can carry as it is: no spaces, quotes or query.
EMAIL = re.compile(r"[^\s@<>\"'?&#/\\,;:()\[\]]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}")


def vcard(entity: dict[str, Any]) -> dict[str, str]:
    """The first `fn`, `email` and `tel` of an entity's jCard (RFC 7095):
    ["vcard", [["fn", {}, "text", "Google LLC"], ...]]."""
    card = entity.get("vcardArray")
    found: dict[str, str] = {}
    if not (isinstance(card, list) and len(card) == 2 and isinstance(card[1], list)):
        return found
    for prop in card[1]:
        if not (isinstance(prop, list) and len(prop) >= 4):
            continue
        name, value = prop[0], clean_text(prop[3])
        if name in ("fn", "email", "tel") and value and name not in found:
            if name == "tel":
                value = value.removeprefix("tel:")
            if name == "email" and not EMAIL.fullmatch(value):
                continue
            found[name] = value
    return found


def dicts_in(value: Any) -> list[dict[str, Any]]:
    """The objects in what should be a JSON array of them, whatever it is."""
    return (
        [item for item in value if isinstance(item, dict)]
        if isinstance(value, list)
        else []
    )


def entities_by_depth(answer: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every entity of an answer, the top ones first, then theirs (ARIN puts the
    abuse contact inside the registrant), to a bounded depth and number."""
    level = dicts_in(answer.get("entities"))
    seen = 0
    for _ in range(MAX_DEPTH):
        deeper = []
        for entity in level:
            seen += 1
            if seen > MAX_ENTITIES:
                return
            yield entity
            deeper += dicts_in(entity.get("entities"))
        level = deeper


def with_role(answer: dict[str, Any], role: str) -> Iterator[dict[str, Any]]:
    for entity in entities_by_depth(answer):
        roles = entity.get("roles")
        if isinstance(roles, list) and role in roles:
            yield entity


def abuse_contact(answer: dict[str, Any]) -> Abuse | None:
    """The e-mail and phone of the nearest entity with the abuse role that has
    either (RIPE strips the e-mail addresses of other contacts, never this)."""
    for entity in with_role(answer, "abuse"):
        card = vcard(entity)
        if "email" in card or "tel" in card:
            return {"email": card.get("email"), "phone": card.get("tel")}
    return None


def event_date(answer: dict[str, Any], action: str) -> str | None:
    """The date of an event ("registration", "last changed") as the registry
    wrote it, if it is an ISO 8601 date."""
    for event in dicts_in(answer.get("events")):
        if event.get("eventAction") == action:
            date = clean_text(event.get("eventDate"))
            try:
                datetime.fromisoformat(date or "")
            except ValueError:
                return None
            return date
    return None


def network_range(answer: dict[str, Any]) -> tuple[str, str, list[str]] | None:
    """The registered range's first and last addresses, and the prefixes that
    cover it; None where it has none that makes sense."""
    try:  # as text: the ipaddress module would take a number too
        start = ipaddress.ip_address(str(answer.get("startAddress")))
        end = ipaddress.ip_address(str(answer.get("endAddress")))
    except ValueError:
        return None
    if start.version != end.version or int(start) > int(end):
        return None
    prefixes = ipaddress.summarize_address_range(start, end)
    return str(start), str(end), [str(prefix) for prefix in prefixes][:32]


def owner_facts(answer: dict[str, Any], source: str) -> OwnerFacts:
    """An RDAP "ip network" answer as the owner fields."""
    span = network_range(answer)
    network: Network = {
        "name": clean_text(answer.get("name")),
        "handle": clean_text(answer.get("handle")),
        "range": [span[0], span[1]] if span else None,
        "cidr": span[2] if span else None,
        "country": clean_text(answer.get("country")),
    }
    registrant = next(with_role(answer, "registrant"), None)
    port43 = answer.get("port43")
    return {
        "registry": REGISTRIES.get(port43.lower()) if isinstance(port43, str) else None,
        "network": network,
        "organization": vcard(registrant).get("fn") if registrant else None,
        "abuse": abuse_contact(answer),
        "registered": event_date(answer, "registration"),
        "updated": event_date(answer, "last changed"),
        "source": source,
    }
