"""/api: the visitor's report as JSON for scripts, readable from any origin."""

from typing import Any

import orjson
from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import (
    BadRequest,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)

from ..addresses import IPAddress, NotAnAddress, parse_address
from ..report import describe_address, format_ip, group_args, query_pairs
from . import visitor
from .conditional import conditional, report_basis
from .facts import lookup_report, owner_of, reporter, visitor_report
from .openapi import OPENAPI
from .rate_limits import count_lookups
from .routing import parse_lookup_address

api = Blueprint("api", __name__)


# A batch of lookups: at most this many addresses, in a body at most this big
# (a hundred of the longest addresses, quoted, with room for spacing).
BATCH_ADDRESSES = 100
BATCH_BYTES = 16 * 1024


# strict_slashes=False: a trailing slash answers as the path without one does.
@api.get("/api", strict_slashes=False)
@api.get("/json")  # ifconfig.co's name for it
def report() -> ResponseReturnValue:
    """The visitor's report; with ?ip=…, the lookup of that address instead."""
    asked = visitor.asked_ip()
    if asked is not None:
        address = parse_lookup_address(asked)
        return conditional(jsonify(lookup_report(address)))
    report = visitor_report()
    return conditional(jsonify(report), report_basis(report))


@api.get("/api/ip", strict_slashes=False)
@api.get("/get_my_ip/", strict_slashes=False)  # the original article's endpoint
def ip() -> ResponseReturnValue:
    """{"ip": …}; ?format=text for the bare address, as on ipify."""
    address = format_ip(visitor.address())
    if visitor.format_in_query() == "text":
        return conditional(
            current_app.response_class(
                f"{address or ''}\n", content_type="text/plain; charset=utf-8"
            )
        )
    return conditional(jsonify(ip=address))


@api.get("/api/lookup/<address>", strict_slashes=False)
def lookup(address: str) -> ResponseReturnValue:
    """What is known of any address, IPv4 or IPv6."""
    asked = parse_lookup_address(address)
    return jsonify(lookup_report(asked))


@api.get("/<address:address>/json")
def address_json(address: IPAddress) -> ResponseReturnValue:
    """As /api/lookup/<address>, at ipinfo.io's URL for it."""
    return jsonify(lookup_report(address))


@api.get("/api/owner", strict_slashes=False)
def own_owner() -> ResponseReturnValue:
    """Who runs the visitor's own network, from its regional registry."""
    return jsonify(owner_of(visitor.address(), own=True))


@api.get("/api/owner/<address>", strict_slashes=False)
def owner(address: str) -> ResponseReturnValue:
    """Who runs any address's network, and where to report abuse."""
    return jsonify(owner_of(parse_lookup_address(address), own=False))


def error_object(status: int | None, message: str | None) -> dict[str, Any]:
    return {"error": {"status": status, "message": message}}


def batch_of_addresses() -> list[str]:
    """The JSON array of address strings a batch's body holds, or the 4xx that
    says what is wrong with it."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            "Send the addresses as a JSON array, with Content-Type: application/json."
        )
    request.max_content_length = BATCH_BYTES
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise RequestEntityTooLarge(
            f"A batch may be at most {BATCH_BYTES} bytes: send fewer addresses."
        ) from None
    try:
        texts = orjson.loads(body)
    except orjson.JSONDecodeError:
        texts = None
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise BadRequest(
            "Send a JSON array of addresses as strings, e.g. "
            '["8.8.8.8", "2606:4700::1111"].'
        )
    if len(texts) > BATCH_ADDRESSES:
        raise BadRequest(
            f"A batch may hold at most {BATCH_ADDRESSES} addresses, not {len(texts)}."
        )
    return texts


@api.post("/api/lookup", strict_slashes=False)
def lookup_batch() -> ResponseReturnValue:
    """What is known of each address in a JSON array, in the same order: an
    entry that is not an address, or that LOOKUP_RATE_LIMIT has no room for,
    gets its own error object. The lookups share one lookup's time limit."""
    parsed: list[IPAddress | dict[str, Any]] = []
    for text in batch_of_addresses():
        try:
            parsed.append(parse_address(text))
        except NotAnAddress as error:
            parsed.append(error_object(400, str(error)))
    valid = [entry for entry in parsed if not isinstance(entry, dict)]
    granted, too_many = count_lookups(len(valid))
    facts = iter(reporter().facts_of_many([*valid[:granted]], own=False, patient=True))
    answers = []
    for entry in parsed:
        if isinstance(entry, dict):
            answers.append(entry)
        elif granted:
            granted -= 1
            answers.append(describe_address(entry, next(facts)))
        else:
            assert too_many is not None  # what was not granted was refused
            answers.append(error_object(too_many.code, too_many.description))
    response = jsonify(answers)
    if too_many is not None:
        response.headers["Retry-After"] = str(too_many.retry_after)
    return response


@api.get("/api/urls", strict_slashes=False)
def urls() -> ResponseReturnValue:
    """Where to ask over IPv4 alone and over IPv6 alone, when the operator has
    set up the two single-stack hostnames; else nulls."""
    return jsonify(
        ipv4=current_app.config["IPV4_URL"], ipv6=current_app.config["IPV6_URL"]
    )


@api.get("/api/args", strict_slashes=False)
def args() -> ResponseReturnValue:
    return jsonify(args=group_args(query_pairs(visitor.query_string())))


@api.get("/api/headers", strict_slashes=False)
def headers() -> ResponseReturnValue:
    return jsonify(headers=visitor.headers())


@api.get("/api/openapi.json", strict_slashes=False)
def openapi() -> ResponseReturnValue:
    return jsonify(OPENAPI)
