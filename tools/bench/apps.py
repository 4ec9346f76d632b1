"""The baselines `make bench` measures the site against."""

import json

from flask import Flask, jsonify, request
from jinja2 import Template

# The article's deployment: a bare Flask app, under `gunicorn -w 2` with defaults.
article = Flask(__name__)
PAGE = Template(
    "<!doctype html><html><head><title>What is my IP?</title></head>"
    "<body><h1>Your IP address</h1><p>{{ ip }}</p></body></html>"
)


@article.get("/get_my_ip")
def get_my_ip():
    return jsonify({"ip": request.remote_addr}), 200


@article.get("/")
def page():
    return PAGE.render(ip=request.remote_addr)


# The server's limit: the same JSON from a bare WSGI callable.
def raw(environ, start_response):
    body = json.dumps({"ip": environ["REMOTE_ADDR"]}).encode()
    start_response(
        "200 OK",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
