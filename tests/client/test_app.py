"""The app from its factory, through Flask's test client: everything a visitor
sees that needs no real server."""

import re

import pytest

from support.clients import BROWSER, CURL


def test_browser_gets_the_page_with_ip_and_args_in_the_order_sent(client):
    response = client.get("/?b=2&a=1&b=3&empty=&q=hello+world", headers=BROWSER)
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    page = response.text
    assert '<p class="ip" id="ip">127.0.0.1</p>' in page
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td></tr>", page)
    assert rows[:5] == [
        ("b", "2"),
        ("a", "1"),
        ("b", "3"),
        ("empty", ""),
        ("q", "hello world"),
    ]
    assert "b=2&amp;a=1&amp;b=3&amp;empty=&amp;q=hello+world" in page
    assert set(response.vary) >= {"Accept", "User-Agent"}


def form_rows(page: str) -> list[tuple[str, str]]:
    """The (name, value) rows of the page's argument form, as it would submit."""
    form = page[page.index('<ol class="arg-rows">') : page.index("</ol>")]
    names = re.findall(r'name="name" value="([^"]*)"', form)
    values = re.findall(r'name="value" value="([^"]*)"', form)
    return list(zip(names, values, strict=True))


def test_applying_the_form_unchanged_gives_back_the_same_query_string(client):
    query = "b=2&a=1&b=3&q=hello+world"
    page = client.get(f"/?{query}", headers=BROWSER).text
    rows = form_rows(page)
    assert rows == [("b", "2"), ("a", "1"), ("b", "3"), ("q", "hello world"), ("", "")]
    submitted = [
        pair for name, value in rows for pair in (("name", name), ("value", value))
    ]
    response = client.get("/edit", query_string=submitted, headers=BROWSER)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/?{query}"


def test_hostile_keys_values_and_path_are_escaped(client):
    attack = "%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    response = client.get(f"/?{attack}={attack}&x=%22%27%3E%3Cimg", headers=BROWSER)
    assert "<script>alert(1)</script>" not in response.text
    assert "<img" not in response.text
    assert (
        "<tr><td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"
        "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td></tr>"
    ) in response.text
    missing = client.get("/%3Cscript%3Ealert(1)%3C/script%3E", headers=BROWSER)
    assert missing.status_code == 404
    assert "<script>" not in missing.text


def test_unicode_plus_and_malformed_escapes_are_reported_as_sent(client):
    query = "city=M%C3%BCnchen&%E2%9C%93=yes&plus=a+b&lit=%2B&bad=%ZZ&cut=%4&bin=%FF"
    response = client.get(f"/api?{query}")
    assert response.status_code == 200
    assert response.json["args"] == {
        "city": ["München"],
        "✓": ["yes"],
        "plus": ["a b"],
        "lit": ["+"],
        "bad": ["%ZZ"],
        "cut": ["%4"],
        "bin": ["\ufffd"],
    }
    assert response.json["query_string"] == query


@pytest.mark.parametrize(
    "user_agent",
    [
        "curl/8.5.0",
        "Wget/1.21.4",
        "HTTPie/3.2.2",
        "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1",
    ],
)
def test_command_line_clients_get_the_bare_ip(client, user_agent):
    response = client.get("/", headers={"User-Agent": user_agent})
    assert response.status_code == 200
    assert response.content_type == "text/plain; charset=utf-8"
    assert response.text == "127.0.0.1\n"


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("application/json", "application/json"),
        ("application/json; charset=utf-8", "application/json"),
        ("text/plain;q=0.5, application/json", "application/json"),
        ("text/plain", "text/plain; charset=utf-8"),
        ("text/html", "text/html; charset=utf-8"),
        ("image/png", "text/plain; charset=utf-8"),  # unsatisfiable: curl's default
    ],
)
def test_accept_header_chooses_the_format(client, accept, content_type):
    response = client.get("/", headers={**CURL, "Accept": accept})
    assert response.status_code == 200
    assert response.content_type == content_type


def test_root_as_json_is_the_api_report(client):
    by_accept = client.get("/?a=1&a=2", headers={"Accept": "application/json"}).json
    from_api = client.get("/api?a=1&a=2", headers={"Accept": "*/*"}).json
    assert by_accept.pop("headers")["Accept"] == "application/json"
    assert from_api.pop("headers")["Accept"] == "*/*"
    assert by_accept == from_api


def test_api_report_fields(client):
    response = client.get(
        "/api?z=last&a=1&a=&z=again", headers={"X-Custom": "hello", **CURL}
    )
    assert response.status_code == 200
    assert response.content_type == "application/json"
    report = response.json
    assert list(report) == [
        "ip",
        "ip_version",
        "ip_is_global",
        "ip_scope",
        "country",
        "country_name",
        "asn",
        "as_name",
        "prefix",
        "hostname",
        "hostname_confirmed",
        "city",
        "region",
        "geo_country",
        "latitude",
        "longitude",
        "time_zone",
        "geo_source",
        "unavailable",
        "args",
        "pairs",
        "query_string",
        "user_agent",
        "request_id",
        "headers",
    ]
    assert report["ip"] == "127.0.0.1"
    assert report["ip_version"] == 4
    assert report["ip_is_global"] is False
    assert report["ip_scope"] == "loopback"
    assert report["country"] is report["asn"] is report["hostname"] is None
    assert list(report["args"].items()) == [("z", ["last", "again"]), ("a", ["1", ""])]
    assert report["pairs"] == [["z", "last"], ["a", "1"], ["a", ""], ["z", "again"]]
    assert report["query_string"] == "z=last&a=1&a=&z=again"
    assert report["user_agent"] == "curl/8.5.0"
    assert report["request_id"] is None
    assert report["headers"]["X-Custom"] == "hello"


def test_header_values_sent_as_utf8_are_shown_as_utf8(client):
    utf8 = "café ✓".encode().decode("latin-1")  # as WSGI hands the bytes over
    latin1 = "caf\u00e9"  # the byte 0xE9 alone: not UTF-8, shown as received
    report = client.get("/api", headers={"X-Utf8": utf8, "X-Latin1": latin1}).json
    assert report["headers"]["X-Utf8"] == "café ✓"
    assert report["headers"]["X-Latin1"] == "café"
    page = client.get("/", headers={**BROWSER, "X-Utf8": utf8}).text
    assert "<tr><td>X-Utf8</td><td>café ✓</td></tr>" in page


def test_json_is_indented_for_terminals_and_compact_for_programs(client):
    terminal = client.get("/api/ip", headers=CURL).text
    program = client.get("/api/ip", headers={"User-Agent": "python-requests/2"}).text
    assert terminal == '{\n  "ip": "127.0.0.1"\n}\n'
    assert program == '{"ip":"127.0.0.1"}\n'


def test_api_slices(client):
    def get(path):
        return client.get(path, query_string={"k": "v"})

    assert get("/api/ip").json == {"ip": "127.0.0.1"}
    assert get("/api/args").json == {"args": {"k": ["v"]}}
    assert get("/api/headers").json["headers"]["Host"] == "localhost"
    assert get("/get_my_ip/").json == {"ip": "127.0.0.1"}
    assert get("/get_my_ip").json == {"ip": "127.0.0.1"}
    assert get("/api/").json["args"] == {"k": ["v"]}
    assert get("/ip").text == "127.0.0.1\n"


@pytest.mark.parametrize("path", ["/api/", "/api/ip/", "/api/args/", "/api/headers/"])
def test_a_trailing_slash_under_api_answers_as_without(client, path):
    with_slash = client.get(path)
    without = client.get(path.rstrip("/"))
    assert with_slash.status_code == without.status_code == 200
    assert with_slash.json == without.json


def test_each_request_is_routed_and_linked_for_the_host_it_sent(client):
    """The page's snippets are kept per site root, for a bounded number of them:
    past that bound, and back on the first ones, every answer still speaks of
    the host its own request named."""
    hosts = [f"site{n}.example" for n in range(80)] + ["site0.example:8080"]
    for host in hosts + hosts[:3]:
        page = client.get("/", headers={**BROWSER, "Host": host})
        assert f"curl http://{host}/\n" in page.text
        answer = client.get("/api/ip/", headers={"Host": host})
        assert answer.json == {"ip": "127.0.0.1"}
        assert client.get("/nope", headers={"Host": host}).status_code == 404


def test_behind_the_router_links_and_redirects_say_https(dyno_client):
    """The scheme the trusted router reports decides every URL the site builds."""
    router = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    page = dyno_client.get("/", headers={**BROWSER, **router, "Host": "a.example"})
    assert "curl https://a.example/\n" in page.text
    assert "curl http://" not in page.text
    edit = dyno_client.get(
        "/edit?name=a&value=1", headers={**router, "Host": "a.example"}
    )
    assert (edit.status_code, edit.headers["Location"]) == (303, "/?a=1")
    plain = dyno_client.get("/", headers={**BROWSER, "Host": "a.example"})
    assert "curl http://a.example/\n" in plain.text


def test_healthz(client):
    response = client.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok\n")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/nope", 404),
        ("GET", "/api/ip/nope", 404),
        ("POST", "/api", 405),
        ("DELETE", "/api/ip", 405),
        ("PUT", "/get_my_ip/", 405),
    ],
)
def test_api_errors_are_json_with_cors(client, method, path, status):
    response = client.open(path, method=method, headers=BROWSER)
    assert response.status_code == status
    assert response.content_type == "application/json"
    error = response.json["error"]
    assert error["status"] == status
    assert error["message"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    if status == 405:
        assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize(
    "path", ["/apiary", "/api-docs", "/get_my_ipx", "/apis/ip", "/Xapi/ip", "/json/x"]
)
def test_paths_that_only_look_like_the_api_are_pages(client, path):
    response = client.get(path, headers=BROWSER)
    assert response.status_code == 404
    assert response.content_type == "text/html; charset=utf-8"
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    ("method", "path", "status"), [("GET", "/nope", 404), ("POST", "/", 405)]
)
def test_page_errors_are_pages_in_the_layout(client, method, path, status):
    response = client.open(path, method=method, headers=BROWSER)
    assert response.status_code == status
    assert response.content_type == "text/html; charset=utf-8"
    assert f'<h1 id="error-heading">{status} ' in response.text
    assert 'rel="stylesheet" href="/static/style.' in response.text  # the layout


def test_page_errors_for_curl_are_text(client):
    response = client.get("/nope", headers=CURL)
    assert response.status_code == 404
    assert response.content_type == "text/plain; charset=utf-8"
    assert response.text.startswith("404 Not Found: ")


def asset_paths(client) -> list[str]:
    page = client.get("/", headers=BROWSER).text
    return re.findall(r'"(/static/[^"]+)"', page)


def test_the_page_links_content_hashed_assets_cached_for_ten_years(client):
    paths = asset_paths(client)
    assert {path.rsplit("/", 1)[1].split(".")[0] for path in paths} == {
        "favicon",
        "icon",
        "style",
        "app",
    }
    for path in paths:
        assert re.search(r"\.[0-9a-f]{12}\.\w+$", path), path
        response = client.get(path)
        assert response.status_code == 200
        assert (
            response.headers["Cache-Control"] == "max-age=315360000, public, immutable"
        )


@pytest.mark.parametrize(
    ("accept_encoding", "encoding"), [("br", "br"), ("gzip", "gzip")]
)
def test_text_assets_are_served_precompressed(client, accept_encoding, encoding):
    for path in asset_paths(client):
        if path.endswith((".css", ".js", ".svg")):
            response = client.get(path, headers={"Accept-Encoding": accept_encoding})
            assert response.headers["Content-Encoding"] == encoding, path
            assert "Accept-Encoding" in response.headers["Vary"]


def test_unhashed_asset_names_work_but_are_not_immutable(client):
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.content_type.startswith("text/css")
    assert response.headers["Cache-Control"] == "max-age=60, public"


def test_pages_are_never_stored_by_caches(client):
    for path in ["/", "/api", "/api/ip", "/nope", "/get_my_ip/"]:
        response = client.get(path, headers=BROWSER)
        assert response.headers["Cache-Control"] == "no-store", path


def test_favicon_and_manifest(client):
    icon = client.get("/favicon.ico", follow_redirects=True)
    assert icon.status_code == 200
    assert icon.history[0].status_code == 301
    assert icon.content_type == "image/x-icon"
    manifest = client.get("/manifest.webmanifest")
    assert manifest.content_type == "application/manifest+json"
    for icon in manifest.json["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_the_form_redirects_to_exactly_the_rows_given(client):
    hostile = '"><script>alert(1)</script>'
    rows = [("a", "1"), ("", ""), (hostile, "Grüße ✓"), ("", "blank name"), ("a", "")]
    response = client.get(
        "/edit",
        query_string=[
            pair for name, value in rows for pair in (("name", name), ("value", value))
        ],
        headers=BROWSER,
    )
    assert response.status_code == 303
    location = response.headers["Location"]
    report = client.get(location.replace("/?", "/api?", 1)).json
    assert report["pairs"] == [
        ["a", "1"],
        [hostile, "Grüße ✓"],
        ["", "blank name"],
        ["a", ""],
    ]


def test_without_a_proxy_x_forwarded_for_is_ignored(client):
    response = client.get("/api/ip", headers={"X-Forwarded-For": "6.6.6.6"})
    assert response.json == {"ip": "127.0.0.1"}


ROUTER = {"REMOTE_ADDR": "10.1.2.3"}


@pytest.mark.parametrize(
    ("forwarded_for", "ip"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("6.6.6.6, 203.0.113.9", "203.0.113.9"),
        ("6.6.6.6,2001:db8::7", "2001:db8::7"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("<script>", "10.1.2.3"),
        ("", "10.1.2.3"),
    ],
)
def test_on_a_dyno_exactly_one_hop_is_trusted(dyno_client, forwarded_for, ip):
    response = dyno_client.get(
        "/api/ip", headers={"X-Forwarded-For": forwarded_for}, environ_base=ROUTER
    )
    assert response.status_code == 200
    assert response.json == {"ip": ip}


def test_trusted_proxy_hops_for_a_cdn_in_front(make_app):
    client = make_app(TRUSTED_PROXY_HOPS=2).test_client()
    response = client.get(
        "/api/ip",
        headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 198.51.100.1"},
        environ_base=ROUTER,
    )
    assert response.json == {"ip": "203.0.113.9"}


DUAL_STACK = {
    "IPV4_URL": "https://ipv4.example.com",
    "IPV6_URL": "https://ipv6.example.com:8443",
}


def test_the_page_fetches_from_exactly_the_two_single_stack_origins(make_app):
    client = make_app(**DUAL_STACK).test_client()
    response = client.get("/", headers=BROWSER)
    policy = response.headers["Content-Security-Policy"]
    assert (
        "connect-src 'self' https://ipv4.example.com https://ipv6.example.com:8443"
    ) in policy.split("; ")
    assert 'data-ipv4-url="https://ipv4.example.com/api/ip"' in response.text
    assert 'data-ipv6-url="https://ipv6.example.com:8443/api/ip"' in response.text
    assert client.get("/api/urls").json == {
        "ipv4": "https://ipv4.example.com",
        "ipv6": "https://ipv6.example.com:8443",
    }


def test_without_them_the_page_may_fetch_from_nowhere_else(client):
    response = client.get("/", headers=BROWSER)
    assert "connect-src" not in response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert 'class="families"' not in response.text
    assert client.get("/api/urls").json == {"ipv4": None, "ipv6": None}
