"""/api: the visitor's report as JSON for scripts, readable from any origin."""

import json
from pathlib import Path

from flask import Blueprint, current_app, jsonify
from werkzeug.exceptions import HTTPException

from . import visitor
from .lookups import facts_about, parse_lookup_address
from .rate_limits import ALLOWANCE_HEADERS
from .report import describe_address, format_ip, group_args, query_pairs

api = Blueprint("api", __name__)

OPENAPI = json.loads(
    (Path(__file__).resolve().parent.parent / "static" / "openapi.json").read_text()
)


# The allowance a page may read from another origin's fetch().
EXPOSED_HEADERS = ", ".join(ALLOWANCE_HEADERS)


def is_api_path(path: str) -> bool:
    """/api, anything under /api/, and the article's /get_my_ip/ are the API;
    /apiary and /get_my_ipx are not."""
    return path in ("/api", "/get_my_ip", "/get_my_ip/") or path.startswith("/api/")


# strict_slashes=False: a trailing slash answers as the path without one does.
@api.get("/api", strict_slashes=False)
def report():
    return jsonify(visitor.report())


@api.get("/api/ip", strict_slashes=False)
@api.get("/get_my_ip/", strict_slashes=False)  # the original article's endpoint
def ip():
    return jsonify(ip=format_ip(visitor.address()))


@api.get("/api/lookup/<address>", strict_slashes=False)
def lookup(address):
    """What is known of any address, IPv4 or IPv6."""
    asked = parse_lookup_address(address)
    return jsonify(describe_address(asked, facts_about(asked)))


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
