"""Change detection for scripts that poll: an answer's strong ETag, derived from
its body, and 304 Not Modified when the client already has it. A DDNS script
keeps the tag (curl --etag-save) and acts only when the address changes."""

import hashlib
from typing import Any

import orjson
from flask import Response, request

NOT_MODIFIED = 304


def etag_for(body: bytes) -> str:
    """The tag for an answer with this body: 128 bits of BLAKE2b, as hex. Equal
    bodies, equal tags; different bodies collide with negligible chance."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def conditional(response: Response, basis: bytes | None = None) -> Response:
    """Tags a new 200 answer and, when If-None-Match holds its tag, answers 304
    with no body instead. The answer's own headers (no-store among the site's)
    are kept: a 304 is not a licence to cache, only a "same as before".
    If-None-Match compares weakly (RFC 9110), so `W/"tag"` matches too; Werkzeug
    sends a 304 without its body and body headers.

    The tag is strong, from the body itself, unless the answer has a `basis`:
    then it is weak, from that, for an answer that also echoes what changes
    with every request (the report's headers, If-None-Match among them). The
    body is read as the list of bytes the view built, and the header added
    as it is: Werkzeug's get_data and set_etag cost more (docs/performance.md)."""
    if basis is None:
        tag = etag_for(b"".join(response.response))  # type: ignore[arg-type] # bytes, as the view built them
        response.headers.add("ETag", f'"{tag}"')
    else:
        tag = etag_for(basis)
        response.headers.add("ETag", f'W/"{tag}"')
    environ = request.environ
    if "HTTP_IF_NONE_MATCH" in environ and request.if_none_match.contains_weak(tag):
        response.status_code = NOT_MODIFIED
    return response


def report_basis(report: dict[str, Any]) -> bytes:
    """What a report's tag is made from: all of it but what changes with every
    request (its request id, and the headers, which hold If-None-Match itself
    and, behind Heroku's router, X-Request-Id and X-Request-Start)."""
    return orjson.dumps(
        {k: v for k, v in report.items() if k not in ("headers", "request_id")}
    )
