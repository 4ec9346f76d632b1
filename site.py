"""What is my IP: shows each visitor their address and the query-string arguments
of their request, as a page for people, JSON for scripts and text for terminals.

Run it with `python site.py` (see `serve` at the bottom and the README for why).
"""

import hashlib
import ipaddress
import json
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from flask import (
    Flask,
    has_request_context,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_accept_header
from werkzeug.middleware.proxy_fix import ProxyFix
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

ROOT = Path(__file__).resolve().parent

# User-Agent prefixes of command-line clients, which get the bare address as text
# unless their Accept header asks for something else (as on ifconfig.co).
COMMAND_LINE_AGENTS = (
    "curl/",
    "wget/",
    "httpie/",
    "xh/",
    "fetch libfetch",
    "go-http-client/",
    "ddclient/",
    "mikrotik/",
)

# RFC 1918, carrier-grade NAT (RFC 6598) and IPv6 unique local addresses.
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "fc00::/7",
    )
)

# Where scripts call: errors there are JSON whatever the client accepts.
JSON_PATHS = ("/api", "/get_my_ip")

SECURITY_HEADERS = {
    # Every answer speaks of one visitor's request: no cache may hand it to another.
    "Cache-Control": "no-store",
    "Content-Security-Policy": "; ".join(
        [
            "default-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    ),
    "X-Content-Type-Options": "nosniff",
    # The page's URL holds the visitor's arguments, which may be secrets.
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), "
    "usb=(), clipboard-write=(self)",
    "Cross-Origin-Opener-Policy": "same-origin",
}

MEDIA_TYPES = {"html": "text/html", "json": "application/json", "text": "text/plain"}


# --- Working out who is asking (pure functions, no HTTP) ---------------------


def trusted_proxy_hops(environ) -> int:
    """How many proxies in front of us append to X-Forwarded-For and are trusted.

    Heroku's router is one (every dyno has DYNO set); with no proxy, none.
    """
    configured = environ.get("TRUSTED_PROXY_HOPS", "").strip()
    if not configured:
        return 1 if environ.get("DYNO") else 0
    if not configured.isdigit():
        raise ValueError(
            f"TRUSTED_PROXY_HOPS must be a whole number of proxies, not {configured!r}"
        )
    return int(configured)


def parse_address(text: str):
    """The IP address in `text` (an X-Forwarded-For entry or a socket peer), or None.

    Accepts a port after the address, as some proxies add one, and shows an
    IPv4-mapped IPv6 address as the IPv4 address it carries.
    """
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return getattr(address, "ipv4_mapped", None) or address


def client_address(peer: str, forwarded_for: str, hops: int):
    """The address that the first trusted proxy saw the request come from.

    Each trusted proxy appends the address it saw to the right of
    X-Forwarded-For, so only the last `hops` entries can be believed; anything
    to their left was written by the client. If the entry we want is missing
    or malformed, the nearest trusted one is used, and failing that the peer.
    """
    trusted = forwarded_for.split(",")[-hops:] if hops else []
    for candidate in [*trusted, peer]:
        address = parse_address(candidate)
        if address is not None:
            return address
    return None


def address_scope(address) -> str:
    """A one-word answer to "where does this address belong?"."""
    if address is None:
        return "unknown"
    for scope in ("loopback", "link_local", "multicast"):
        if getattr(address, f"is_{scope}"):
            return scope.replace("_", "-")
    if any(address in network for network in PRIVATE_NETWORKS):
        return "private"
    return "public" if address.is_global else "reserved"


def query_pairs(query_string: str) -> list[tuple[str, str]]:
    """Every name and value in the order sent.

    Blank values are kept; `+` is a space; malformed percent-escapes are shown
    as written and invalid UTF-8 as U+FFFD, so no query string is refused.
    """
    return parse_qsl(query_string, keep_blank_values=True, errors="replace")


def group_args(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Name -> its values: names in first-seen order, values in order."""
    args: dict[str, list[str]] = {}
    for name, value in pairs:
        args.setdefault(name, []).append(value)
    return args


def format_ip(address) -> str | None:
    return str(address) if address is not None else None


def build_report(address, query_string: str, headers: dict[str, str]) -> dict:
    """Everything we tell a visitor about their request, as JSON-ready data."""
    scope = address_scope(address)
    pairs = query_pairs(query_string)
    return {
        "ip": format_ip(address),
        "ip_version": address.version if address is not None else None,
        "ip_is_global": scope == "public",
        "ip_scope": scope,
        "args": group_args(pairs),
        "pairs": pairs,
        "query_string": query_string,
        "user_agent": headers.get("User-Agent"),
        "request_id": headers.get("X-Request-Id"),
        "headers": headers,
    }


def _match_quality(accepted: list[tuple[str, float]], media_type: str):
    """(q, specificity) of the most specific range in Accept covering media_type."""
    main_type = media_type.split("/")[0]
    ranges = {media_type: 2, f"{main_type}/*": 1, "*/*": 0, "*": 0}
    best = (0.0, -1)
    for value, quality in accepted:
        specificity = ranges.get(value.split(";")[0].strip().lower(), -1)
        if specificity > best[1]:
            best = (quality, specificity)
    return best


def is_command_line(user_agent: str) -> bool:
    """curl, Wget, HTTPie, PowerShell and other plain clients, as on ifconfig.co."""
    agent = user_agent.lower()
    return agent.startswith(COMMAND_LINE_AGENTS) or "powershell" in agent


def choose_format(accept: str, user_agent: str) -> str:
    """What this client asked for, or would expect: "html", "json" or "text".

    Parameters such as charset do not change the media type. Among equally
    acceptable types, one named outright beats a wildcard; a tie between
    wildcards (curl's */*) goes to what the client is: text for command-line
    clients, HTML for the rest. An Accept header nothing satisfies is ignored.
    """
    if is_command_line(user_agent):
        preference = ["text", "html", "json"]
    else:
        preference = ["html", "json", "text"]
    accepted = list(parse_accept_header(accept))
    ranked = sorted(
        preference,
        key=lambda fmt: _match_quality(accepted, MEDIA_TYPES[fmt]),
        reverse=True,  # sorted() is stable, so ties keep the preference order
    )
    best = ranked[0]
    return best if _match_quality(accepted, MEDIA_TYPES[best])[0] > 0 else preference[0]


# --- Static files --------------------------------------------------------------


def hashed_name(name: str, content: bytes) -> str:
    """style.css -> style.<12 hex digits of its content>.css"""
    stem, dot, suffix = name.rpartition(".")
    digest = hashlib.sha256(content).hexdigest()[:12]
    return f"{stem}.{digest}.{suffix}" if dot else f"{name}.{digest}"


def collect_static(source: Path) -> tuple[Path, dict[str, str]]:
    """Copies `source` to a build directory under content-hashed names as well as
    the plain ones, with gzip and Brotli variants beside each file.

    Built at boot, once per content: it takes milliseconds, needs no build step,
    and what is served always matches the source.
    """
    files = {
        path.relative_to(source).as_posix(): path.read_bytes()
        for path in sorted(source.rglob("*"))
        if path.is_file()
    }
    names = {name: hashed_name(name, content) for name, content in files.items()}
    build_id = hashlib.sha256(repr(sorted(names.items())).encode()).hexdigest()[:12]
    build = Path(tempfile.gettempdir()) / f"whatismyip-static-{build_id}"
    if not build.is_dir():
        staging = Path(tempfile.mkdtemp(prefix="whatismyip-static-"))
        compressor = Compressor(quiet=True)
        for name, content in files.items():
            for output in (staging / name, staging / names[name]):
                output.parent.mkdir(parents=True, exist_ok=True)
                output.write_bytes(content)
                if compressor.should_compress(output.name):
                    compressor.compress(str(output))
        try:
            staging.rename(build)
        except OSError:  # another process built the same files first
            shutil.rmtree(staging)
    return build, names


# --- The web application -------------------------------------------------------


class ReadableJSON(DefaultJSONProvider):
    """Indented for people at a terminal, compact (and quicker) for programs."""

    sort_keys = False  # args keep the order they were given in
    ensure_ascii = False

    @property
    def compact(self):
        return not (
            has_request_context()
            and is_command_line(request.headers.get("User-Agent", ""))
        )


app = Flask(__name__, static_folder=None)  # whitenoise serves static/
app.json = ReadableJSON(app)
app.config["TRUSTED_PROXY_HOPS"] = trusted_proxy_hops(os.environ)
OPENAPI = json.loads((ROOT / "static" / "openapi.json").read_text())
# The scheme the visitor used, as the trusted router reports it (for HSTS and
# the URLs in the page); the client address is worked out by client_address.
app.wsgi_app = ProxyFix(
    app.wsgi_app, x_for=0, x_proto=min(app.config["TRUSTED_PROXY_HOPS"], 1)
)


def add_static_headers(headers, path, url):
    headers["X-Content-Type-Options"] = "nosniff"


# `make run` sets STATIC_AUTOREFRESH so that edits to static/ show on reload.
STATIC_AUTOREFRESH = bool(os.environ.get("STATIC_AUTOREFRESH"))
if STATIC_AUTOREFRESH:
    static_root, static_names = ROOT / "static", {}
else:
    static_root, static_names = collect_static(ROOT / "static")
app.wsgi_app = WhiteNoise(
    app.wsgi_app,
    root=static_root,
    prefix="static/",
    autorefresh=STATIC_AUTOREFRESH,
    immutable_file_test=r"\.[0-9a-f]{12}\.\w+$",
    add_headers_function=add_static_headers,
)


@app.template_global()
def static_url(name: str) -> str:
    """The URL of a static file, content-hashed so that caches may keep it forever."""
    return f"/static/{static_names.get(name, name)}"


def visitor_address():
    return client_address(
        request.remote_addr or "",
        request.headers.get("X-Forwarded-For", ""),
        app.config["TRUSTED_PROXY_HOPS"],
    )


def visitor_query_string() -> str:
    return request.query_string.decode("utf-8", "replace")


def current_report() -> dict:
    return build_report(
        visitor_address(), visitor_query_string(), dict(request.headers)
    )


def requested_format() -> str:
    return choose_format(
        request.headers.get("Accept", ""), request.headers.get("User-Agent", "")
    )


def as_text(line: str):
    return line + "\n", {"Content-Type": "text/plain; charset=utf-8"}


@app.get("/")
def index():
    fmt = requested_format()
    if fmt == "json":
        response = jsonify(current_report())
    elif fmt == "text":
        response = app.make_response(as_text(format_ip(visitor_address()) or ""))
    else:
        page = render_template("index.html", report=current_report())
        response = app.make_response(page)
    response.vary.update(("Accept", "User-Agent"))
    return response


@app.get("/ip")
def ip_text():
    return as_text(format_ip(visitor_address()) or "")


@app.get("/api", strict_slashes=False)
def api_report():
    return jsonify(current_report())


@app.get("/api/ip")
@app.get("/get_my_ip/", strict_slashes=False)  # the original article's endpoint
def api_ip():
    return jsonify(ip=format_ip(visitor_address()))


@app.get("/api/args")
def api_args():
    return jsonify(args=group_args(query_pairs(visitor_query_string())))


@app.get("/api/headers")
def api_headers():
    return jsonify(headers=dict(request.headers))


@app.get("/edit")
def edit_args():
    """The page's argument form, which works without JavaScript: rows of name and
    value fields come in, the page with exactly those arguments is where we send you."""
    rows = zip(
        request.args.getlist("name"), request.args.getlist("value"), strict=False
    )
    query = urlencode([(name, value) for name, value in rows if name or value])
    return redirect(f"{url_for('index')}?{query}" if query else url_for("index"), 303)


@app.get("/manifest.webmanifest")
def manifest():
    response = jsonify(
        name="What is my IP?",
        short_name="My IP",
        start_url="/",
        display="standalone",
        background_color="#ffffff",
        theme_color="#1d4ed8",
        icons=[
            {"src": static_url("icon.svg"), "sizes": "any", "type": "image/svg+xml"}
        ],
    )
    response.content_type = "application/manifest+json"
    return response


@app.get("/favicon.ico")
def favicon():
    return redirect(static_url("favicon.ico"), 301)


@app.get("/api/openapi.json")
def openapi():
    return jsonify(OPENAPI)


@app.get("/docs")
def api_docs():
    return render_template("api.html", api=OPENAPI)


@app.get("/healthz")
def healthz():
    return as_text("ok")


@app.after_request
def add_security_headers(response):
    """Headers for every answer of the app (static files are whitenoise's)."""
    response.headers.extend(SECURITY_HEADERS)  # new names: no need to replace
    if request.is_secure:  # only when the trusted router says it was HTTPS
        response.headers["Strict-Transport-Security"] = "max-age=63072000"
    if request.path.startswith(JSON_PATHS):
        response.headers["Access-Control-Allow-Origin"] = "*"
        if request.method == "OPTIONS":  # a CORS preflight
            response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
            asked = request.headers.get("Access-Control-Request-Headers")
            if asked:
                response.headers["Access-Control-Allow-Headers"] = asked
            response.headers["Access-Control-Max-Age"] = "86400"
    return response


@app.errorhandler(HTTPException)
def http_error(error: HTTPException):
    """Errors answer in the caller's language: JSON under /api, else as negotiated."""
    response = error.get_response()  # keeps headers such as Allow on a 405
    fmt = "json" if request.path.startswith(JSON_PATHS) else requested_format()
    if fmt == "json":
        body = jsonify(error={"status": error.code, "message": error.description})
        response.set_data(body.get_data())
        response.content_type = body.content_type
    elif fmt == "text":
        response.set_data(f"{error.code} {error.name}: {error.description}\n")
        response.content_type = "text/plain; charset=utf-8"
    else:
        response.set_data(render_template("error.html", error=error))
        response.content_type = "text/html; charset=utf-8"
    return response


# --- Serving -------------------------------------------------------------------


def serve():
    """Run gunicorn on this app, reading gunicorn.conf.py and GUNICORN_CMD_ARGS.

    `gunicorn site:app` cannot work: Python imports the standard library's
    `site` module at start-up, so that name is taken before gunicorn looks.
    """
    from gunicorn.app.base import Application

    class SiteServer(Application):
        def init(self, parser, opts, args):
            if args:
                parser.error("the app is built in: pass options only")

        def load(self):
            return app

    SiteServer("python site.py [OPTIONS]").run()


if __name__ == "__main__":
    serve()
