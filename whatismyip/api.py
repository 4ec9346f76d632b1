"""/api: the visitor's report as JSON for scripts, readable from any origin."""

import json
from pathlib import Path

import orjson
from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)

from . import visitor
from .addresses import NotAnAddress, parse_address
from .conditional import conditional
from .lookups import facts_about, facts_about_many, parse_lookup_address
from .owners import owner_of
from .rate_limits import ALLOWANCE_HEADERS, count_lookups
from .report import describe_address, format_ip, group_args, query_pairs

api = Blueprint("api", __name__)

OPENAPI = json.loads(
    (Path(__file__).resolve().parent.parent / "static" / "openapi.json").read_text()
)


# The allowance a page may read from another origin's fetch().
EXPOSED_HEADERS = ", ".join(ALLOWANCE_HEADERS)


# A batch of lookups: at most this many addresses, in a body at most this big
# (a hundred of the longest addresses, quoted, with room for spacing).
BATCH_ADDRESSES = 100
BATCH_BYTES = 16 * 1024


def lookup_report(address) -> dict:
    """What is known of an address a visitor asked about."""
    return describe_address(address, facts_about(address, own=False))


def is_api_path(path: str) -> bool:
    """/api, anything under /api/, the article's /get_my_ip/ and the JSON
    answers at /json and /<address>/json are the API; /apiary and /get_my_ipx
    are not."""
    return (
        path in ("/api", "/json", "/get_my_ip", "/get_my_ip/")
        or path.startswith("/api/")
        or path.endswith("/json")
    )


# strict_slashes=False: a trailing slash answers as the path without one does.
@api.get("/api", strict_slashes=False)
@api.get("/json")  # ifconfig.co's name for it
def report():
    """The visitor's report; with ?ip=…, the lookup of that address instead."""
    asked = visitor.asked_ip()
    if asked is not None:
        address = parse_lookup_address(asked)
        return conditional(jsonify(lookup_report(address)))
    report = visitor.report()
    return conditional(jsonify(report), report_basis(report))


def report_basis(report: dict) -> bytes:
    """What a report's tag is made from: all of it but what changes with every
    request (its request id, and the headers, which hold If-None-Match itself
    and, behind Heroku's router, X-Request-Id and X-Request-Start)."""
    return orjson.dumps(
        {k: v for k, v in report.items() if k not in ("headers", "request_id")}
    )


@api.get("/api/ip", strict_slashes=False)
@api.get("/get_my_ip/", strict_slashes=False)  # the original article's endpoint
def ip():
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
def lookup(address):
    """What is known of any address, IPv4 or IPv6."""
    asked = parse_lookup_address(address)
    return jsonify(lookup_report(asked))


@api.get("/<address:address>/json")
def address_json(address):
    """As /api/lookup/<address>, at ipinfo.io's URL for it."""
    return jsonify(lookup_report(address))


@api.get("/api/owner", strict_slashes=False)
def own_owner():
    """Who runs the visitor's own network, from its regional registry."""
    return jsonify(owner_of(visitor.address()))


@api.get("/api/owner/<address>", strict_slashes=False)
def owner(address):
    """Who runs any address's network, and where to report abuse."""
    return jsonify(owner_of(parse_lookup_address(address)))


def error_object(status: int, message: str) -> dict:
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
def lookup_batch():
    """What is known of each address in a JSON array, in the same order: an
    entry that is not an address, or that LOOKUP_RATE_LIMIT has no room for,
    gets its own error object. The lookups share one lookup's time limit."""
    parsed = []
    for text in batch_of_addresses():
        try:
            parsed.append(parse_address(text))
        except NotAnAddress as error:
            parsed.append(error_object(400, str(error)))
    valid = [entry for entry in parsed if not isinstance(entry, dict)]
    granted, too_many = count_lookups(len(valid))
    facts = iter(facts_about_many(valid[:granted]))
    answers = []
    for entry in parsed:
        if isinstance(entry, dict):
            answers.append(entry)
        elif granted:
            granted -= 1
            answers.append(describe_address(entry, next(facts)))
        else:
            answers.append(error_object(too_many.code, too_many.description))
    response = jsonify(answers)
    if too_many is not None:
        response.headers["Retry-After"] = str(too_many.retry_after)
    return response


@api.get("/api/urls", strict_slashes=False)
def urls():
    """Where to ask over IPv4 alone and over IPv6 alone, when the operator has
    set up the two single-stack hostnames; else nulls."""
    return jsonify(
        ipv4=current_app.config["IPV4_URL"], ipv6=current_app.config["IPV6_URL"]
    )


@api.get("/api/args", strict_slashes=False)
def args():
    return jsonify(args=group_args(query_pairs(visitor.query_string())))


@api.get("/api/headers", strict_slashes=False)
def headers():
    return jsonify(headers=visitor.headers())


@api.get("/api/openapi.json", strict_slashes=False)
def openapi():
    return jsonify(OPENAPI)


def json_error(error: HTTPException, response):
    body = jsonify(error={"status": error.code, "message": error.description})
    response.set_data(body.get_data())
    response.content_type = body.content_type
    return response
