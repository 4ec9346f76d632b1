"""The pages people see, and the plain-text answers for terminals."""

import json
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from types import SimpleNamespace
from typing import NamedTuple
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from markdown_it import MarkdownIt
from markupsafe import Markup
from werkzeug.exceptions import HTTPException, ServiceUnavailable
from werkzeug.sansio.utils import get_current_url

from . import visitor
from .api import OPENAPI, is_api_path, json_error, lookup_report, report_basis
from .conditional import conditional
from .lookups import (
    country_facts,
    facts_about,
    location_installed,
    parse_lookup_address,
    unavailable_retry_after,
)
from .owners import owner_asked, owner_of
from .report import as_lines, format_ip
from .static_files import static_url

pages = Blueprint("pages", __name__)
# CommonMark, with any raw HTML in the text escaped rather than passed through.
MARKDOWN = MarkdownIt("commonmark", {"html": False})


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


@pages.app_template_filter("markdown")
@lru_cache(maxsize=256)  # the OpenAPI document's descriptions, a fixed few
def inline_markdown(text: str) -> Markup:
    """A description from the OpenAPI document, which writes CommonMark, as
    HTML: its `code` and links rendered, any HTML in it escaped."""
    return Markup(MARKDOWN.renderInline(text))  # noqa: S704 (html=False escapes)


@pages.app_template_filter("country_name")
def country_name(code: str) -> str:
    return country_facts(code)["country_name"] or code


@pages.app_template_filter("local_time")
def local_time(time_zone: str) -> str:
    """The time now in an IANA time zone, as 14:05."""
    return datetime.now(ZoneInfo(time_zone)).strftime("%H:%M")


@pages.app_template_filter("readable_json")
def readable_json(value) -> str:
    """An example as a reader expects it: indented, & and < as written (Jinja
    escapes the text for the page, where tojson would write \\u0026)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def for_templates(answer: dict) -> SimpleNamespace:
    """An answer's fields as attributes, which templates read as `report.ip`:
    Jinja tries an attribute before a key, so a dictionary would cost a failed
    lookup and its exception for every field shown."""
    return SimpleNamespace(**answer)


def as_text(text: str) -> Response:
    """A text answer: the text and a newline, so a shell prints it whole."""
    return Response(text + "\n", content_type="text/plain; charset=utf-8")


def negotiated(facts: dict, page, fmt: str, basis=None) -> Response:
    """An address's answer (or the visitor's report, with `basis` making its
    tag's bytes) in the format chosen: JSON, `name: value` lines, or the page
    `page()` renders. The answer varies with what negotiation reads."""
    if fmt == "json":
        response = conditional(jsonify(facts), basis(facts) if basis else None)
    elif fmt == "text":
        response = conditional(as_text(as_lines(facts)))
    else:
        response = current_app.make_response(page())
    response.headers["Vary"] = "Accept, User-Agent"
    return response


@pages.get("/")
def index():
    fmt = visitor.requested_format(query=True)
    if fmt == "text":  # the bare address, as on ifconfig.co and icanhazip
        response = conditional(as_text(format_ip(visitor.address()) or ""))
        response.headers["Vary"] = "Accept, User-Agent"
        return response
    report = visitor.report()
    return negotiated(
        report,
        lambda: render_template("index.html", report=for_templates(report)),
        fmt,
        report_basis,
    )


@pages.get("/ip")
def ip_text():
    """The bare address, whoever asks; ?format=json for {"ip": …}, as on ipify."""
    ip = format_ip(visitor.address())
    if visitor.format_in_query() == "json":
        return conditional(jsonify(ip=ip))
    return conditional(as_text(ip or ""))


class TextFact(NamedTuple):
    """A one-line text route: the source that knows it (None: the address
    itself), its field in the report, how a message names it, and how a line
    shows it from the facts (the field's value, unless said otherwise)."""

    source: str | None
    field: str
    label: str
    shown: Callable[[dict], str] | None = None

    def line(self, facts: dict) -> str:
        return self.shown(facts) if self.shown else str(facts[self.field])


TEXT_FACTS = {
    "ip": TextFact(None, "ip", "address"),
    "country": TextFact("country", "country", "country"),
    "country-iso": TextFact("country", "country", "country"),  # ifconfig.co's name
    "country-name": TextFact("country", "country_name", "country name"),
    "asn": TextFact("asn", "asn", "network (AS)", lambda facts: f"AS{facts['asn']}"),
    "hostname": TextFact("hostname", "hostname", "hostname"),
    # As ifconfig.co and ipinfo.io have them.
    "city": TextFact("location", "city", "city"),
    "region": TextFact("location", "region", "region"),
    "coordinates": TextFact(
        "location",
        "latitude",
        "location",
        lambda facts: f"{facts['latitude']},{facts['longitude']}",
    ),
    "timezone": TextFact("location", "time_zone", "time zone"),
}


def any_of(names) -> str:
    """A route part matching exactly one of `names`."""
    return f"any({', '.join(map(repr, names))})"


def fact_as_text(name: str, address, own: bool) -> Response:
    """One fact about an address as a line for shell scripts, asking only its
    own source. So that `curl -f` fails rather than print nothing: a 404 when
    there is none, and a 503 with Retry-After when it could not be looked up
    just now."""
    fact = TEXT_FACTS[name]
    if fact.source is None:
        return conditional(as_text(format_ip(address) or ""))
    if fact.source not in current_app.config["LOOKUPS"]:
        abort(404, f"This site does not look up the {fact.label} of an address.")
    if fact.source == "location" and not location_installed():
        raise ServiceUnavailable(
            f"This site has no location database installed, so no {fact.label}."
        )
    facts = facts_about(address, own=own, wanted=(fact.source,))
    if fact.field in facts["unavailable"]:
        seconds = unavailable_retry_after()
        raise ServiceUnavailable(
            f"The {fact.label} could not be looked up just now: try again in "
            f"{seconds} seconds.",
            retry_after=seconds,
        )
    if facts[fact.field] is None:
        whose = format_ip(address) or "your address"
        abort(404, f"No {fact.label} is known for {whose}.")
    return conditional(as_text(fact.line(facts)))


@pages.get(f"/<{any_of(name for name in TEXT_FACTS if name != 'ip')}:name>")
def own_fact(name):
    return fact_as_text(name, visitor.address(), own=True)


@pages.get(f"/<address:address>/<{any_of(TEXT_FACTS)}:name>")
def address_fact(address, name):
    """One fact about any address, as on ipinfo.io (/8.8.8.8/country)."""
    return fact_as_text(name, address, own=False)


@pages.get("/ua")
def user_agent():
    agent = visitor.headers().get("User-Agent")
    if agent is None:
        abort(404, "Your request sent no User-Agent.")
    return conditional(as_text(agent))


@pages.get("/headers")
def headers_text():
    """The request's headers, one `Name: value` a line, as received."""
    lines = [f"{name}: {value}" for name, value in visitor.headers().items()]
    return conditional(as_text("\n".join(lines)))


def address_answer(asked: str, address) -> Response:
    fmt = visitor.requested_format(query=True)
    # The page shows who runs the network too: asked at once, so that the
    # registry's answer and the lookups' arrive together.
    owner = owner_asked(address) if fmt == "html" else None
    facts = lookup_report(address)
    return negotiated(
        facts,
        lambda: render_template(
            "lookup.html",
            facts=for_templates(facts),
            asked=asked,
            owner=owner and owner(),
        ),
        fmt,
    )


@pages.get("/owner-card")
def owner_card():
    """The visitor's page's "Who runs this network" card, which its script
    fetches once the page has loaded."""
    return render_template("owner.html", owner=owner_of(visitor.address()))


@pages.get("/lookup")
def lookup():
    """Another address, looked up: the form on / sends you here."""
    asked = request.args.get("address", "")
    return address_answer(asked, parse_lookup_address(asked))


@pages.get("/<address:address>")
def address(address):
    """Any address at its own URL, as on ipinfo.io (/8.8.8.8)."""
    return address_answer(str(address), address)


ROBOTS = """\
# The home page and the API reference are for everyone. Everything else
# answers one visitor or one address: /api, /lookup and /<address> pages.
User-agent: *
Allow: /$
Allow: /docs$
Allow: /static/
Disallow: /
"""


@pages.get("/robots.txt")
def robots():
    return as_text(ROBOTS.rstrip("\n"))


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


# What a script that took a wrong turn (no route) is told.
NOT_FOUND_HINT = (
    "Your address is at /ip (text) and /api (JSON); every route is described "
    "at /docs.\n"
)


@pages.app_errorhandler(HTTPException)
def error(error: HTTPException):
    """Errors answer in the caller's language: JSON under /api, else as
    negotiated (never a page to a script: see choose_format)."""
    response = error.get_response()  # keeps headers such as Allow on a 405
    if is_api_path(request.path):
        return json_error(error, response)
    fmt = visitor.requested_format()
    if fmt == "json":
        return json_error(error, response)
    if fmt == "text":
        hint = NOT_FOUND_HINT if request.url_rule is None and error.code == 404 else ""
        response.set_data(f"{error.code} {error.name}: {error.description}\n{hint}")
        response.content_type = "text/plain; charset=utf-8"
    else:
        response.set_data(render_template("error.html", error=error))
        response.content_type = "text/html; charset=utf-8"
    return response
