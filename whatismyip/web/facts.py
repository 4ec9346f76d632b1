"""What the views ask of the report for the current request: the worker's
reporter, built with the app, and the answers it gives."""

from collections.abc import Callable
from typing import Any

from flask import Flask, abort, current_app

from ..addresses import IPAddress
from ..infra.redis_store import RedisStore
from ..report import (
    Reporter,
    build_report,
    build_reporter,
    describe_address,
    format_ip,
)
from ..sources.base import Source
from . import visitor


def reporter() -> Reporter:
    return current_app.extensions["reporter"]  # type: ignore[no-any-return]


def lookup_report(address: IPAddress) -> dict[str, Any]:
    """What is known of an address a visitor asked about."""
    return describe_address(address, reporter().facts(address, own=False))


def visitor_report() -> dict[str, Any]:
    """Everything we tell a visitor about their request."""
    address = visitor.address()
    return build_report(
        address,
        reporter().facts(address, own=True),
        visitor.query_string(),
        visitor.headers(),
    )


def owner_started(
    address: IPAddress | None, own: bool
) -> Callable[[], dict[str, Any]] | None:
    """Who runs `address`'s network, asked now: a function that waits for the
    answer; None where this site does not look it up."""
    if "owner" not in reporter().engine.sources:
        return None
    return reporter().owner_started(address, own)


def owner_of(address: IPAddress | None, own: bool) -> dict[str, Any]:
    """Who runs `address`'s network, as /api/owner answers; a 404 when this
    site does not look it up."""
    started = owner_started(address, own)
    if started is None:
        abort(404, "This site does not look up who runs an address (LOOKUPS).")
    return {"ip": format_ip(address), **started()}


def init_app(
    app: Flask, store: RedisStore | None, sources: list[Source] | None
) -> None:
    """Built with the app, so in the worker that serves it: its resolver's
    sockets, HTTP session and pool are that worker's own."""
    app.extensions["reporter"] = build_reporter(app.config, store, sources)
