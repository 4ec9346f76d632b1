"""What the templates read besides their context: filters, the snippets, and
each page's URL."""

import json
from datetime import datetime
from functools import lru_cache
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, render_template
from markdown_it import MarkdownIt
from markupsafe import Markup
from werkzeug.sansio.utils import get_current_url

from ..sources.country import country_facts

# CommonMark, with any raw HTML in the text escaped rather than passed through.
MARKDOWN = MarkdownIt("commonmark", {"html": False})


def flag(code: str | None) -> str:
    """The flag emoji for a country code: its two regional-indicator letters."""
    if not code:
        return ""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in code.upper())


@lru_cache(maxsize=64)  # one per Host a visitor may send, within bounds
def snippets(scheme: str, host: str, root_path: str) -> Markup:
    """The page's code snippets for this site root, rendered once: nothing else
    in them changes between visits. Keyed by the root's parts, which are cheap
    to read, where request.url_root is worked out anew on every request."""
    root = get_current_url(scheme, host, root_path)
    return Markup(render_template("snippets.html", root=root))  # noqa: S704 (escaped by Jinja)


@lru_cache(maxsize=256)  # the OpenAPI document's descriptions, a fixed few
def inline_markdown(text: str) -> Markup:
    """A description from the OpenAPI document, which writes CommonMark, as
    HTML: its `code` and links rendered, any HTML in it escaped."""
    return Markup(MARKDOWN.renderInline(text))  # noqa: S704 (html=False escapes)


def country_name(code: str) -> str:
    return country_facts(code)["country_name"] or code


def local_time(time_zone: str) -> str:
    """The time now in an IANA time zone, as 14:05."""
    return datetime.now(ZoneInfo(time_zone)).strftime("%H:%M")


def readable_json(value: Any) -> str:
    """An example as a reader expects it: indented, & and < as written (Jinja
    escapes the text for the page, where tojson would write \\u0026)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def for_templates(answer: dict[str, Any]) -> SimpleNamespace:
    """An answer's fields as attributes, which templates read as `report.ip`:
    Jinja tries an attribute before a key, so a dictionary would cost a failed
    lookup and its exception for every field shown."""
    return SimpleNamespace(**answer)


def link_the_pages(app: Flask) -> None:
    """Each page's URL, for the templates as `links.index` and so on: worked out
    once the routes are in, where url_for would build it on every render."""
    app.jinja_env.globals["links"] = SimpleNamespace(
        **{
            rule.endpoint.removeprefix("pages."): rule.rule
            for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("pages.") and not rule.arguments
        }
    )


def init_app(app: Flask) -> None:
    """The filters and globals, once the blueprints are in (for their URLs)."""
    app.add_template_global(snippets)
    for name, function in (
        ("flag", flag),
        ("markdown", inline_markdown),
        ("country_name", country_name),
        ("local_time", local_time),
        ("readable_json", readable_json),
    ):
        app.add_template_filter(function, name)
    link_the_pages(app)
