"""Scripts written for the peers (ifconfig.co, ipinfo.io, ipify, icanhazip)
port over by swapping the host name: their URLs, change detection with ETags,
batch lookups, and never a page where a script expected text or JSON."""

import json

import protego
import pytest

from support.clients import BROWSER, CURL
from support.serving import GOOGLE_V6
from whatismyip.web.api import BATCH_ADDRESSES

FROM_GOOGLE = {"REMOTE_ADDR": "8.8.8.8"}  # a visitor the test DNS server knows
SCRIPT = {"User-Agent": "python-requests/2.32.3", "Accept": "*/*"}
JSON = {"Accept": "application/json"}


def get(client, path, headers=None):
    return client.get(path, headers=headers or {}, environ_base=FROM_GOOGLE)


TEXT = "text/plain; charset=utf-8"
PEER_URLS = [
    # ifconfig.co
    ("/json", {}, 200, "application/json", '"ip":"8.8.8.8"'),
    ("/country-iso", CURL, 200, TEXT, "US\n"),
    ("/country-name", CURL, 200, TEXT, "United States\n"),
    ("/ua", {"User-Agent": "ddclient/3.11"}, 200, TEXT, "ddclient/3.11\n"),
    ("/api?ip=1.1.1.1", {}, 200, "application/json", '"asn":13335'),
    ("/json?ip=2001:4860:4860::8888", {}, 200, "application/json", '"asn":15169'),
    ("/json?ip=nonsense", {}, 400, "application/json", "is not an IP address"),
    # ipinfo.io
    ("/8.8.8.8", CURL, 200, TEXT, "ip: 8.8.8.8\nip_version: 4\n"),
    ("/8.8.8.8", CURL, 200, TEXT, "\nasn: 15169\nas_name: GOOGLE - Google LLC\n"),
    ("/8.8.8.8", CURL, 200, TEXT, "\nhostname_confirmed: true\ncity: Mountain View\n"),
    ("/8.8.8.8", JSON, 200, "application/json", '"hostname":"dns.google"'),
    ("/8.8.8.8", BROWSER, 200, "text/html", '<p class="ip" id="looked-up">8.8.8.8</p>'),
    ("/8.8.8.8/json", CURL, 200, "application/json", '"prefix": "8.8.8.0/24"'),
    (f"/{GOOGLE_V6}/json", {}, 200, "application/json", f'"ip":"{GOOGLE_V6}"'),
    ("/8.8.8.8/ip", CURL, 200, TEXT, "8.8.8.8\n"),
    ("/::ffff:8.8.8.8/ip", CURL, 200, TEXT, "8.8.8.8\n"),
    ("/8.8.8.8/country", CURL, 200, TEXT, "US\n"),
    ("/1.1.1.1/country-name", CURL, 200, TEXT, "Australia\n"),
    ("/8.8.8.8/asn", CURL, 200, TEXT, "AS15169\n"),
    ("/1.1.1.1/hostname", CURL, 200, TEXT, "claims-to-be.example\n"),
    ("/9.9.9.9/hostname", CURL, 404, TEXT, "No hostname is known for 9.9.9.9."),
    # Only an address routes there; anything else stays a 404.
    ("/8.8.8.256", CURL, 404, TEXT, "404 Not Found"),
    ("/cafe", CURL, 404, TEXT, "404 Not Found"),
    ("/fe80::1%25eth0", CURL, 404, TEXT, "404 Not Found"),
    ("/8.8.8.8/weather", CURL, 404, TEXT, "404 Not Found"),
    ("/8.8.8.8/whois/json", CURL, 404, "application/json", '"status": 404'),
    # ipify: ?format= decides outright.
    ("/?format=json", BROWSER, 200, "application/json", '"ip":"8.8.8.8"'),
    ("/?format=text", BROWSER, 200, TEXT, "8.8.8.8\n"),
    ("/?format=xml", BROWSER, 200, "text/html", "<tr><td>format</td><td>xml</td>"),
    ("/ip?format=json", CURL, 200, "application/json", '{\n  "ip": "8.8.8.8"\n}\n'),
    ("/api/ip?format=text", BROWSER, 200, TEXT, "8.8.8.8\n"),
    # /lookup negotiates as / does.
    ("/lookup?address=8.8.8.8", CURL, 200, TEXT, "ip: 8.8.8.8\n"),
    ("/lookup?address=8.8.8.8", JSON, 200, "application/json", '"asn":15169'),
    ("/lookup?address=8.8.8.8", BROWSER, 200, "text/html", "dns.google"),
    # Never a page to a script, errors included.
    ("/", SCRIPT, 200, TEXT, "8.8.8.8\n"),
    ("/nope", SCRIPT, 404, TEXT, "every route is described at /docs"),
    ("/nope", CURL, 404, TEXT, "Your address is at /ip (text) and /api (JSON)"),
    ("/lookup?address=x", SCRIPT, 400, TEXT, "'x' is not an IP address"),
]


@pytest.mark.parametrize(("path", "headers", "status", "kind", "shown"), PEER_URLS)
def test_the_peers_urls(client, path, headers, status, kind, shown):
    answer = get(client, path, headers)
    assert answer.status_code == status, answer.text
    assert answer.content_type.startswith(kind)
    assert shown in answer.text


def test_the_request_headers_as_text_one_a_line(client):
    answer = get(client, "/headers", {"X-Test": "yes", "User-Agent": "curl/8.5.0"})
    assert answer.text.endswith("\n")
    lines = answer.text.splitlines()
    assert "X-Test: yes" in lines
    assert "User-Agent: curl/8.5.0" in lines


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/8.8.8.8", CURL), ("/lookup?address=8.8.8.8", CURL), ("/", BROWSER)],
)
def test_negotiated_answers_vary_with_what_negotiation_reads(client, path, headers):
    assert get(client, path, headers).headers["Vary"] == "Accept, User-Agent"


def test_json_answers_at_the_peers_urls_are_readable_from_any_origin(client):
    for path in ["/json", "/8.8.8.8/json", "/json?ip=1.1.1.1"]:
        assert get(client, path).headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "path",
    [
        "/8.8.8.8",
        "/8.8.8.8/json",
        "/8.8.8.8/asn",
        "/api?ip=8.8.8.8",
        "/json?ip=1.1.1.1",
    ],
)
def test_every_lookup_url_counts_against_the_lookup_limit(make_app, path):
    client = make_app(LOOKUP_RATE_LIMIT="2/minute").test_client()
    assert get(client, "/api/lookup/9.9.9.9").status_code == 200
    assert get(client, "/lookup?address=9.9.9.9", CURL).status_code == 200
    refused = get(client, path, CURL)
    assert refused.status_code == 429
    assert "Too many lookups of other addresses from 8.8.8.8" in refused.text
    # Your own report is not a lookup of another address.
    for own in ["/api", "/json", "/", "/ip", "/country"]:
        assert get(client, own, CURL).status_code == 200, own


def test_a_429_in_text_says_how_many_seconds_to_wait(make_app):
    client = make_app(RATE_LIMIT="1/minute").test_client()
    get(client, "/ip", CURL)
    refused = get(client, "/ip", CURL)
    assert refused.status_code == 429
    seconds = refused.headers["Retry-After"]
    assert refused.text == (
        "429 Too Many Requests: Too many requests from 8.8.8.8: the limit is "
        f"1/minute. Try again in {seconds} seconds.\n"
    )


def test_robots_txt_lets_pages_be_indexed_and_nothing_per_visitor(client):
    answer = client.get("/robots.txt")
    assert answer.status_code == 200
    assert answer.content_type == TEXT
    robots = protego.Protego.parse(answer.text)  # read as search engines do

    def allowed(path):
        return robots.can_fetch(f"https://ip.example{path}", "Googlebot")

    for path in ["/", "/docs", "/static/style.0123456789ab.css"]:
        assert allowed(path), path
    for path in ["/api", "/api/ip", "/json", "/8.8.8.8", f"/{GOOGLE_V6}/json"]:
        assert not allowed(path), path
    for path in ["/lookup?address=8.8.8.8", "/?token=secret", "/ip", "/get_my_ip/"]:
        assert not allowed(path), path


def test_docs_render_markdown_and_examples_as_a_reader_expects(client):
    page = client.get("/docs", headers=BROWSER).text
    assert "`" not in page
    assert "\\u0026" not in page
    assert "<code>Access-Control-Allow-Origin: *</code>" in page
    assert "colour=red&amp;size=&amp;colour=blue" in page  # & as written, escaped
    assert "<code>POST /api/lookup</code>" in page


@pytest.mark.parametrize(
    ("path", "strong"),
    [("/", True), ("/ip", True), ("/api/ip", True), ("/country", True)]
    + [("/8.8.8.8/asn", True), ("/ua", True), ("/8.8.8.8", True)]
    # The report echoes the request's headers, If-None-Match among them: its
    # tag is weak, and leaves out what changes with every request.
    + [("/api", False), ("/json", False), ("/?format=json", False)],
)
def test_an_unchanged_answer_is_304_without_a_body(client, path, strong):
    first = get(client, path, CURL)
    tag = first.headers["ETag"]
    assert tag.startswith('"') is strong
    again = get(client, path, {**CURL, "If-None-Match": tag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == tag
    assert again.headers["Cache-Control"] == "no-store"
    # Weak comparison, as RFC 9110 has it for If-None-Match; and a list.
    opaque = tag.removeprefix("W/")
    weak = get(client, path, {**CURL, "If-None-Match": f'"other", W/{opaque}'})
    assert weak.status_code == 304


def test_the_reports_tag_changes_with_its_arguments_not_its_request_id(client):
    first = get(client, "/api?a=1", {"X-Request-Id": "one"})
    tag = first.headers["ETag"]
    same = get(client, "/api?a=1", {"X-Request-Id": "two", "If-None-Match": tag})
    assert same.status_code == 304
    other = get(client, "/api?a=2", {"If-None-Match": tag})
    assert other.status_code == 200


def test_a_changed_answer_has_a_new_tag_and_its_body(client):
    mine = get(client, "/ip", CURL)
    other = client.get(
        "/ip",
        headers={**CURL, "If-None-Match": mine.headers["ETag"]},
        environ_base={"REMOTE_ADDR": "1.1.1.1"},
    )
    assert other.status_code == 200
    assert other.text == "1.1.1.1\n"
    assert other.headers["ETag"] != mine.headers["ETag"]


def test_the_tag_follows_the_body_not_the_route(client):
    """The same answer has the same tag wherever it comes from."""
    assert (
        get(client, "/ip", CURL).headers["ETag"]
        == (get(client, "/8.8.8.8/ip", CURL).headers["ETag"])
    )
    assert (
        get(client, "/ip", CURL).headers["ETag"]
        != (get(client, "/api/ip", CURL).headers["ETag"])
    )


def batch(client, body, content_type="application/json"):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(
        "/api/lookup", data=data, content_type=content_type, environ_base=FROM_GOOGLE
    )


def test_a_batch_answers_each_address_in_order(client):
    answer = batch(client, ["8.8.8.8", "not one", "10.0.0.1", GOOGLE_V6, "8.8.8.8"])
    assert answer.status_code == 200
    first, bad, private, v6, again = answer.json
    assert first == get(client, "/api/lookup/8.8.8.8").json
    assert bad == {
        "error": {
            "status": 400,
            "message": "'not one' is not an IP address: give one like 8.8.8.8 or "
            "2001:4860:4860::8888.",
        }
    }
    assert (private["ip_scope"], private["asn"]) == ("private", None)
    assert v6["asn"] == 15169
    assert again == first
    assert batch(client, []).json == []


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (["8.8.8.8"], "text/plain", 415, "Content-Type: application/json"),
        ("8.8.8.8", "application/json", 400, "Send a JSON array of addresses"),
        ({"ip": "8.8.8.8"}, "application/json", 400, "Send a JSON array"),
        ([8, 8, 8, 8], "application/json", 400, "Send a JSON array"),
        (["8.8.8.8", None], "application/json", 400, "Send a JSON array"),
        ("[" * 5000, "application/json", 400, "Send a JSON array"),
        (["8.8.8.8"] * (BATCH_ADDRESSES + 1), "application/json", 400, "at most 100"),
        ('["8.8.8.8"' + " " * 20_000 + "]", "application/json", 413, "16384 bytes"),
    ],
)
def test_a_bad_batch_gets_a_json_error_that_says_why(
    client, body, content_type, status, message
):
    answer = batch(client, body, content_type)
    assert answer.status_code == status
    assert answer.json["error"]["status"] == status
    assert message in answer.json["error"]["message"]


def test_a_batch_with_json_and_a_charset_is_json(client):
    answer = batch(client, ["8.8.8.8"], "application/json; charset=utf-8")
    assert answer.status_code == 200


def test_each_address_in_a_batch_counts_as_a_lookup(make_app):
    client = make_app(LOOKUP_RATE_LIMIT="3/minute").test_client()
    answer = batch(client, ["9.9.9.9", "x", "1.1.1.1", "8.8.8.8", "8.8.4.4", "::1"])
    assert answer.status_code == 200
    results = answer.json
    assert [entry.get("ip") for entry in results[:4]] == [
        "9.9.9.9",
        None,
        "1.1.1.1",
        "8.8.8.8",
    ]
    seconds = answer.headers["Retry-After"]
    for refused in results[4:]:
        assert refused["error"]["status"] == 429
        assert refused["error"]["message"].endswith(f"Try again in {seconds} seconds.")
    assert answer.headers["X-RateLimit-Remaining"] == "0"
    # No room at all: the whole batch waits.
    assert batch(client, ["9.9.9.9"]).status_code == 429
    # An empty batch looks nothing up.
    assert batch(client, []).status_code == 200
