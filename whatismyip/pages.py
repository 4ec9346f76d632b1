"""The pages people see, and the plain-text answers for terminals."""

from functools import lru_cache
from types import SimpleNamespace
from urllib.parse import urlencode

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from werkzeug.exceptions import HTTPException, ServiceUnavailable
from werkzeug.sansio.utils import get_current_url

from . import visitor
from .api import OPENAPI, is_api_path, json_error
from .lookups import (
    SOURCE_FIELDS,
    facts_about,
    parse_lookup_address,
    unavailable_retry_after,
)
from .report import describe_address, format_ip
from .static_files import static_url

pages = Blueprint("pages", __name__)


def link_the_pages(app) -> None:
    """Each page's URL, for the templates as `links.index` and so on: worked out
    once the routes are in, where url_for would build it on every render."""
    app.jinja_env.globals["links"] = SimpleNamespace(
        **{
            rule.endpoint.removeprefix("pages."): rule.rule
            for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("pages.") and not rule.arguments
        }
    )


@pages.app_template_global()
@lru_cache(maxsize=64)  # one per Host a visitor may send, within bounds
def snippets(scheme: str, host: str, root_path: str) -> Markup:
    """The page's code snippets for this site root, rendered once: nothing else
    in them changes between visits. Keyed by the root's parts, which are cheap
    to read, where request.url_root is worked out anew on every request."""
    root = get_current_url(scheme, host, root_path)
    return Markup(render_template("snippets.html", root=root))  # noqa: S704 (escaped by Jinja)


def for_templates(answer: dict) -> SimpleNamespace:
    """An answer's fields as attributes, which templates read as `report.ip`:
    Jinja tries an attribute before a key, so a dictionary would cost a failed
    lookup and its exception for every field shown."""
    return SimpleNamespace(**answer)


def as_text(line: str):
    return line + "\n", {"Content-Type": "text/plain; charset=utf-8"}


@pages.get("/")
def index():
    fmt = visitor.requested_format()
    if fmt == "json":
        response = jsonify(visitor.report())
    elif fmt == "text":
        response = current_app.make_response(
            as_text(format_ip(visitor.address()) or "")
        )
    else:
        page = render_template("index.html", report=for_templates(visitor.report()))
        response = current_app.make_response(page)
    response.headers["Vary"] = "Accept, User-Agent"  # a new answer has no Vary
    return response


@pages.get("/ip")
def ip_text():
    return as_text(format_ip(visitor.address()) or "")


def fact_as_text(source: str, label: str, shown=str):
    """One fact about the visitor's address, as a line for shell scripts, asking
    only its own source. So that `curl -f` fails rather than print nothing: a
    404 when there is none, and a 503 with Retry-After when it could not be
    looked up just now."""
    address = visitor.address()
    field = SOURCE_FIELDS[source][0]
    if source not in current_app.config["LOOKUPS"]:
        abort(404, f"This site does not look up the {label} of an address.")
    facts = facts_about(address, own=True, wanted=(source,))
    if field in facts["unavailable"]:
        seconds = unavailable_retry_after()
        raise ServiceUnavailable(
            f"The {label} could not be looked up just now: try again in "
            f"{seconds} seconds.",
            retry_after=seconds,
        )
    if facts[field] is None:
        abort(404, f"No {label} is known for {format_ip(address) or 'your address'}.")
    return as_text(shown(facts[field]))


@pages.get("/country")
def country_text():
    return fact_as_text("country", "country")


@pages.get("/asn")
def asn_text():
    return fact_as_text("asn", "network (AS)", lambda asn: f"AS{asn}")


@pages.get("/hostname")
def hostname_text():
    return fact_as_text("hostname", "hostname")


@pages.get("/lookup")
def lookup():
    """Another address, looked up on a page: the form on / sends you here."""
    asked = request.args.get("address", "")
    address = parse_lookup_address(asked)
    facts = describe_address(address, facts_about(address))
    return render_template("lookup.html", facts=for_templates(facts), asked=asked)


@pages.get("/edit")
def edit_args():
    """The page's argument form, which works without JavaScript: rows of name and
    value fields come in, the page with exactly those arguments is where we send you."""
    rows = zip(
        request.args.getlist("name"), request.args.getlist("value"), strict=False
    )
    query = urlencode([(name, value) for name, value in rows if name or value])
    index_url = url_for("pages.index")
    return redirect(f"{index_url}?{query}" if query else index_url, 303)


@pages.get("/manifest.webmanifest")
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


@pages.get("/favicon.ico")
def favicon():
    return redirect(static_url("favicon.ico"), 301)


@pages.get("/docs")
def api_docs():
    return render_template("api.html", api=OPENAPI)


@pages.get("/healthz")
def healthz():
    return as_text("ok")


@pages.app_errorhandler(HTTPException)
def error(error: HTTPException):
    """Errors answer in the caller's language: JSON under /api, else as negotiated."""
    response = error.get_response()  # keeps headers such as Allow on a 405
    if is_api_path(request.path):
        return json_error(error, response)
    fmt = visitor.requested_format()
    if fmt == "json":
        return json_error(error, response)
    if fmt == "text":
        response.set_data(f"{error.code} {error.name}: {error.description}\n")
        response.content_type = "text/plain; charset=utf-8"
    else:
        response.set_data(render_template("error.html", error=error))
        response.content_type = "text/html; charset=utf-8"
    return response
