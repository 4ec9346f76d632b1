"""Errors answer in the caller's language: JSON under /api, else as negotiated
(never a page to a script: see negotiation.choose_format)."""

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from . import visitor
from .routing import is_api_path

# What a script that took a wrong turn (no route) is told.
NOT_FOUND_HINT = (
    "Your address is at /ip (text) and /api (JSON); every route is described "
    "at /docs.\n"
)


def json_error(error: HTTPException, response: Response) -> Response:
    body = jsonify(error={"status": error.code, "message": error.description})
    response.set_data(body.get_data())
    response.content_type = body.content_type
    return response


def error(error: HTTPException) -> Response:
    response = error.get_response()  # keeps headers such as Allow on a 405
    if is_api_path(request.path):
        return json_error(error, response)  # type: ignore[arg-type]
    fmt = visitor.requested_format()
    if fmt == "json":
        return json_error(error, response)  # type: ignore[arg-type]
    if fmt == "text":
        hint = NOT_FOUND_HINT if request.url_rule is None and error.code == 404 else ""
        response.set_data(f"{error.code} {error.name}: {error.description}\n{hint}")
        response.content_type = "text/plain; charset=utf-8"
    else:
        response.set_data(render_template("error.html", error=error))
        response.content_type = "text/html; charset=utf-8"
    return response  # type: ignore[return-value]


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, error)
