"""Change detection for scripts that poll: an answer's strong ETag, derived from
its body, and 304 Not Modified when the client already has it. A DDNS script
keeps the tag (curl --etag-save) and acts only when the address changes."""

import hashlib

from flask import Response, request

NOT_MODIFIED = 304


def etag_for(body: bytes) -> str:
    """The tag for an answer with this body: 128 bits of BLAKE2b, as hex. Equal
    bodies, equal tags; different bodies collide with negligible chance."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def conditional(response: Response, basis: bytes | None = None) -> Response:
    """Tags a successful answer and, when If-None-Match holds its tag, answers
    304 with no body instead. The answer's own headers (no-store among the
    site's) are kept: a 304 is not a licence to cache, only a "same as before".
    If-None-Match compares weakly (RFC 9110), so `W/"tag"` matches too; Werkzeug
    sends a 304 without its body and body headers.

    The tag is strong, from the body itself, unless the answer has a `basis`:
    then it is weak, from that, for an answer that also echoes what changes
    with every request (the report's headers, If-None-Match among them)."""
    if response.status_code != 200:
        return response
    weak = basis is not None
    tag = etag_for(basis if weak else response.get_data())
    response.set_etag(tag, weak)
    if "HTTP_IF_NONE_MATCH" in request.environ and request.if_none_match.contains_weak(
        tag
    ):
        response.status_code = NOT_MODIFIED
    return response
