"""The pages people see, and the plain-text answers for terminals."""

from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import urlencode

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
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import ServiceUnavailable

from ..addresses import IPAddress
from ..report import as_lines, format_ip
from . import visitor
from .conditional import conditional, report_basis
from .facts import lookup_report, owner_of, owner_started, reporter, visitor_report
from .openapi import OPENAPI
from .routing import any_of, parse_lookup_address
from .static_files import static_url
from .templating import for_templates

pages = Blueprint("pages", __name__)


def as_text(text: str) -> Response:
    """A text answer: the text and a newline, so a shell prints it whole."""
    return Response(text + "\n", content_type="text/plain; charset=utf-8")


def negotiated(
    facts: dict[str, Any],
    page: Callable[[], str],
    fmt: str,
    basis: Callable[[dict[str, Any]], bytes] | None = None,
) -> Response:
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
def index() -> ResponseReturnValue:
    fmt = visitor.requested_format(query=True)
    if fmt == "text":  # the bare address, as on ifconfig.co and icanhazip
        response = conditional(as_text(format_ip(visitor.address()) or ""))
        response.headers["Vary"] = "Accept, User-Agent"
        return response
    report = visitor_report()
    return negotiated(
        report,
        lambda: render_template("index.html", report=for_templates(report)),
        fmt,
        report_basis,
    )


@pages.get("/ip")
def ip_text() -> ResponseReturnValue:
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
    shown: Callable[[dict[str, Any]], str] | None = None

    def line(self, facts: dict[str, Any]) -> str:
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


def fact_as_text(name: str, address: IPAddress | None, own: bool) -> Response:
    """One fact about an address as a line for shell scripts, asking only its
    own source. So that `curl -f` fails rather than print nothing: a 404 when
    there is none, and a 503 with Retry-After when it could not be looked up
    just now."""
    fact = TEXT_FACTS[name]
    if fact.source is None:
        return conditional(as_text(format_ip(address) or ""))
    if fact.source not in current_app.config["LOOKUPS"]:
        abort(404, f"This site does not look up the {fact.label} of an address.")
    if fact.source == "location" and not reporter().location_installed():
        raise ServiceUnavailable(
            f"This site has no location database installed, so no {fact.label}."
        )
    facts = reporter().facts(address, own=own, wanted=(fact.source,))
    if fact.field in facts["unavailable"]:
        seconds = reporter().retry_after()
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
def own_fact(name: str) -> Response:
    return fact_as_text(name, visitor.address(), own=True)


@pages.get(f"/<address:address>/<{any_of(TEXT_FACTS)}:name>")
def address_fact(address: IPAddress, name: str) -> Response:
    """One fact about any address, as on ipinfo.io (/8.8.8.8/country)."""
    return fact_as_text(name, address, own=False)


@pages.get("/ua")
def user_agent() -> ResponseReturnValue:
    agent = visitor.headers().get("User-Agent")
    if agent is None:
        abort(404, "Your request sent no User-Agent.")
    return conditional(as_text(agent))


@pages.get("/headers")
def headers_text() -> ResponseReturnValue:
    """The request's headers, one `Name: value` a line, as received."""
    lines = [f"{name}: {value}" for name, value in visitor.headers().items()]
    return conditional(as_text("\n".join(lines)))


def address_answer(asked: str, address: IPAddress) -> Response:
    fmt = visitor.requested_format(query=True)
    # The page shows who runs the network too: asked at once, so that the
    # registry's answer and the lookups' arrive together.
    owner = owner_started(address, own=False) if fmt == "html" else None
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
def owner_card() -> ResponseReturnValue:
    """The visitor's page's "Who runs this network" card, which its script
    fetches once the page has loaded."""
    return render_template("owner.html", owner=owner_of(visitor.address(), own=True))


@pages.get("/lookup")
def lookup() -> ResponseReturnValue:
    """Another address, looked up: the form on / sends you here."""
    asked = request.args.get("address", "")
    return address_answer(asked, parse_lookup_address(asked))


@pages.get("/<address:address>")
def address(address: IPAddress) -> Response:
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
def robots() -> ResponseReturnValue:
    return as_text(ROBOTS.rstrip("\n"))


@pages.get("/edit")
def edit_args() -> ResponseReturnValue:
    """The page's argument form, which works without JavaScript: rows of name and
    value fields come in, the page with exactly those arguments is where we send you."""
    rows = zip(
        request.args.getlist("name"), request.args.getlist("value"), strict=False
    )
    query = urlencode([(name, value) for name, value in rows if name or value])
    index_url = url_for("pages.index")
    return redirect(f"{index_url}?{query}" if query else index_url, 303)


@pages.get("/manifest.webmanifest")
def manifest() -> ResponseReturnValue:
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
def favicon() -> ResponseReturnValue:
    return redirect(static_url("favicon.ico"), 301)


@pages.get("/docs")
def api_docs() -> ResponseReturnValue:
    return render_template("api.html", api=OPENAPI)


@pages.get("/healthz")
def healthz() -> ResponseReturnValue:
    return as_text("ok")
