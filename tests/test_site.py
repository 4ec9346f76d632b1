"""End to end: the Procfile's web line under gunicorn, spoken to over HTTP."""

import http.client
import json
import re
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import requests
from conftest import BIN, ROOT, Server

BROWSER = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0",
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
}
CURL = {"User-Agent": "curl/8.5.0", "Accept": "*/*"}
JSON_ROUTES = ["/api", "/api/ip", "/api/args", "/api/headers", "/get_my_ip/"]


class RawResponse:
    def __init__(self, response: http.client.HTTPResponse):
        self.status_code = response.status
        self.headers = response.headers
        self.text = response.read().decode()

    def json(self):
        return json.loads(self.text)


def get_raw(url: str, **headers) -> RawResponse:
    """GET with the URL sent byte for byte: requests would re-quote it."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", f"{parts.path or '/'}?{parts.query}", headers=headers)
        return RawResponse(connection.getresponse())
    finally:
        connection.close()


# --- The page, the text and the JSON ------------------------------------------


def test_browser_gets_the_page_with_ip_and_args_in_order(local):
    response = get_raw(f"{local.url}/?b=2&a=1&b=3&empty=&q=hello+world", **BROWSER)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    page = response.text
    assert '<p class="ip" id="ip">127.0.0.1</p>' in page
    rows = [
        "<tr><td>b</td><td>2</td></tr>",
        "<tr><td>b</td><td>3</td></tr>",
        "<tr><td>a</td><td>1</td></tr>",
        "<tr><td>empty</td><td></td></tr>",
        "<tr><td>q</td><td>hello world</td></tr>",
    ]
    positions = [page.index(row) for row in rows]
    assert positions == sorted(positions)
    assert "b=2&amp;a=1&amp;b=3&amp;empty=&amp;q=hello+world" in page
    assert set(response.headers["Vary"].replace(" ", "").split(",")) >= {
        "Accept",
        "User-Agent",
    }


def test_hostile_keys_values_and_path_are_escaped(local):
    attack = "%3Cscript%3Ealert(1)%3C%2Fscript%3E"
    response = get_raw(f"{local.url}/?{attack}={attack}&x=%22%27%3E%3Cimg", **BROWSER)
    assert "<script>alert(1)</script>" not in response.text
    assert "<img" not in response.text
    assert (
        "<tr><td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"
        "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td></tr>"
    ) in response.text
    missing = get_raw(f"{local.url}/%3Cscript%3Ealert(1)%3C/script%3E", **BROWSER)
    assert missing.status_code == 404
    assert "<script>" not in missing.text


def test_unicode_plus_and_malformed_escapes_are_reported_as_sent(local):
    query = "city=M%C3%BCnchen&%E2%9C%93=yes&plus=a+b&lit=%2B&bad=%ZZ&cut=%4&bin=%FF"
    response = get_raw(f"{local.url}/api?{query}")
    assert response.status_code == 200
    assert response.json()["args"] == {
        "city": ["München"],
        "✓": ["yes"],
        "plus": ["a b"],
        "lit": ["+"],
        "bad": ["%ZZ"],
        "cut": ["%4"],
        "bin": ["\ufffd"],
    }
    assert response.json()["query_string"] == query


@pytest.mark.parametrize(
    "user_agent",
    [
        "curl/8.5.0",
        "Wget/1.21.4",
        "HTTPie/3.2.2",
        "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1",
    ],
)
def test_command_line_clients_get_the_bare_ip(local, user_agent):
    response = requests.get(local.url, headers={"User-Agent": user_agent}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
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
def test_accept_header_chooses_the_format(local, accept, content_type):
    headers = {**CURL, "Accept": accept}
    response = requests.get(local.url, headers=headers, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type


def test_root_as_json_is_the_api_report(local):
    query = {"a": ["1", "2"]}
    by_accept = requests.get(
        local.url, params=query, headers={"Accept": "application/json"}, timeout=10
    ).json()
    from_api = requests.get(f"{local.url}/api", params=query, timeout=10).json()
    assert by_accept.pop("headers")["Accept"] == "application/json"
    assert from_api.pop("headers")["Accept"] == "*/*"
    assert by_accept == from_api


def test_api_report_fields(local):
    response = get_raw(
        f"{local.url}/api?z=last&a=1&a=&z=again", **{"X-Custom": "hello", **CURL}
    )
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    report = response.json()
    assert list(report) == [
        "ip",
        "ip_version",
        "ip_is_global",
        "ip_scope",
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
    assert list(report["args"].items()) == [("z", ["last", "again"]), ("a", ["1", ""])]
    assert report["pairs"] == [["z", "last"], ["a", "1"], ["a", ""], ["z", "again"]]
    assert report["query_string"] == "z=last&a=1&a=&z=again"
    assert report["user_agent"] == "curl/8.5.0"
    assert report["request_id"] is None
    assert report["headers"]["X-Custom"] == "hello"


def test_json_is_indented_for_terminals_and_compact_for_programs(local):
    terminal = requests.get(f"{local.url}/api/ip", headers=CURL, timeout=10).text
    program = requests.get(f"{local.url}/api/ip", timeout=10).text  # python-requests
    assert terminal == '{\n  "ip": "127.0.0.1"\n}\n'
    assert program == '{"ip":"127.0.0.1"}\n'


def test_api_slices(local):
    def get(path):
        return requests.get(f"{local.url}{path}", params={"k": "v"}, timeout=10)

    assert get("/api/ip").json() == {"ip": "127.0.0.1"}
    assert get("/api/args").json() == {"args": {"k": ["v"]}}
    headers = get("/api/headers").json()["headers"]
    assert headers["Host"] == local.url.removeprefix("http://")
    assert get("/get_my_ip/").json() == {"ip": "127.0.0.1"}
    assert get("/get_my_ip").json() == {"ip": "127.0.0.1"}
    assert get("/api/").json()["args"] == {"k": ["v"]}
    assert get("/ip").text == "127.0.0.1\n"


def test_healthz(local):
    response = requests.get(f"{local.url}/healthz", timeout=10)
    assert (response.status_code, response.text) == (200, "ok\n")


@pytest.mark.parametrize(
    "path", ["/", "/ip", "/healthz", "/static/style.css", *JSON_ROUTES]
)
def test_head_works_wherever_get_does(local, path):
    get = requests.get(f"{local.url}{path}", timeout=10)
    head = requests.head(f"{local.url}{path}", timeout=10)
    assert head.status_code == get.status_code == 200
    assert head.headers["Content-Type"] == get.headers["Content-Type"]
    assert head.content == b""


# --- Errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/nope", 404),
        ("POST", "/api", 405),
        ("DELETE", "/api/ip", 405),
        ("PUT", "/get_my_ip/", 405),
    ],
)
def test_api_errors_are_json(local, method, path, status):
    response = requests.request(
        method, f"{local.url}{path}", headers=BROWSER, timeout=10
    )
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == status
    assert error["message"]
    if status == 405:
        assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize(
    ("method", "path", "status"), [("GET", "/nope", 404), ("POST", "/", 405)]
)
def test_page_errors_are_pages_in_the_layout(local, method, path, status):
    response = requests.request(
        method, f"{local.url}{path}", headers=BROWSER, timeout=10
    )
    assert response.status_code == status
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert f'<h1 id="error-heading">{status} ' in response.text
    assert 'rel="stylesheet" href="/static/style.' in response.text  # the layout


def test_page_errors_for_curl_are_text(local):
    response = requests.get(f"{local.url}/nope", headers=CURL, timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.text.startswith("404 Not Found: ")


# --- Static files ---------------------------------------------------------------


def asset_urls(base_url: str) -> list[str]:
    page = requests.get(base_url, headers=BROWSER, timeout=10).text
    return [f"{base_url}{path}" for path in re.findall(r'"(/static/[^"]+)"', page)]


def test_the_page_links_content_hashed_assets_cached_for_a_year(local):
    urls = asset_urls(local.url)
    assert {url.rsplit("/", 1)[1].split(".")[0] for url in urls} == {
        "favicon",
        "icon",
        "style",
        "app",
    }
    for url in urls:
        assert re.search(r"\.[0-9a-f]{12}\.\w+$", url), url
        response = requests.get(url, timeout=10)
        assert response.status_code == 200
        assert (
            response.headers["Cache-Control"] == "max-age=315360000, public, immutable"
        )


@pytest.mark.parametrize(
    ("accept_encoding", "encoding"), [("br", "br"), ("gzip", "gzip")]
)
def test_text_assets_are_served_precompressed(local, accept_encoding, encoding):
    for url in asset_urls(local.url):
        if url.endswith((".css", ".js", ".svg")):
            response = requests.get(
                url,
                headers={"Accept-Encoding": accept_encoding},
                timeout=10,
                stream=True,
            )
            assert response.headers["Content-Encoding"] == encoding, url
            assert "Accept-Encoding" in response.headers["Vary"]


def test_unhashed_asset_names_work_but_are_not_immutable(local):
    response = requests.get(f"{local.url}/static/style.css", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/css")
    assert response.headers["Cache-Control"] == "max-age=60, public"


def test_pages_are_never_stored_by_caches(local):
    for path in ["/", "/api", "/api/ip", "/nope", "/get_my_ip/"]:
        response = requests.get(f"{local.url}{path}", headers=BROWSER, timeout=10)
        assert response.headers["Cache-Control"] == "no-store", path


def test_favicon_and_manifest(local):
    icon = requests.get(f"{local.url}/favicon.ico", timeout=10)
    assert icon.status_code == 200
    assert icon.history[0].status_code == 301
    assert icon.headers["Content-Type"] == "image/x-icon"
    manifest = requests.get(f"{local.url}/manifest.webmanifest", timeout=10)
    assert manifest.headers["Content-Type"] == "application/manifest+json"
    for icon in manifest.json()["icons"]:
        assert requests.get(f"{local.url}{icon['src']}", timeout=10).status_code == 200


def test_static_autorefresh_serves_edits_without_a_rebuild(start_server):
    server = start_server(STATIC_AUTOREFRESH="1")
    probe = ROOT / "static" / "autorefresh-probe.txt"
    try:
        probe.write_text("first")
        assert (
            requests.get(f"{server.url}/static/{probe.name}", timeout=10).text
            == "first"
        )
        probe.write_text("second")
        assert (
            requests.get(f"{server.url}/static/{probe.name}", timeout=10).text
            == "second"
        )
    finally:
        probe.unlink()
    page = requests.get(server.url, headers=BROWSER, timeout=10).text
    assert 'href="/static/style.css"' in page


# --- The argument form without JavaScript ----------------------------------------


def test_the_form_redirects_to_exactly_the_rows_given(local):
    hostile = '"><script>alert(1)</script>'
    rows = [("a", "1"), ("", ""), (hostile, "Grüße ✓"), ("", "blank name"), ("a", "")]
    response = requests.get(
        f"{local.url}/edit",
        params=[
            pair for name, value in rows for pair in (("name", name), ("value", value))
        ],
        headers=BROWSER,
        timeout=10,
    )
    assert response.history[0].status_code == 303
    assert response.status_code == 200
    report = requests.get(
        response.url.replace(local.url + "/", local.url + "/api"), timeout=10
    ).json()
    assert report["args"] == {"a": ["1", ""], hostile: ["Grüße ✓"], "": ["blank name"]}


# --- The client address ---------------------------------------------------------


def test_without_a_proxy_x_forwarded_for_is_ignored(local):
    response = requests.get(
        f"{local.url}/api/ip", headers={"X-Forwarded-For": "6.6.6.6"}, timeout=10
    )
    assert response.json() == {"ip": "127.0.0.1"}


@pytest.mark.parametrize(
    ("forwarded_for", "ip"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("6.6.6.6, 203.0.113.9", "203.0.113.9"),
        ("6.6.6.6,2001:db8::7", "2001:db8::7"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("<script>", "127.0.0.1"),
        ("", "127.0.0.1"),
    ],
)
def test_on_a_dyno_exactly_one_hop_is_trusted(dyno, forwarded_for, ip):
    response = requests.get(
        f"{dyno.url}/api/ip", headers={"X-Forwarded-For": forwarded_for}, timeout=10
    )
    assert response.status_code == 200
    assert response.json() == {"ip": ip}


def test_behind_the_router_a_client_cannot_spoof(heroku):
    response = requests.get(
        f"{heroku.url}/api",
        headers={"X-Forwarded-For": "6.6.6.6, 7.7.7.7"},
        timeout=10,
    )
    report = response.json()
    assert report["ip"] == "127.0.0.1"  # what the router saw
    assert report["request_id"]  # the router's X-Request-Id
    assert report["headers"]["Via"] == "1.1 vegur"


def test_trusted_proxy_hops_for_a_cdn_in_front(start_server):
    server = start_server(DYNO="web.1", TRUSTED_PROXY_HOPS="2")
    response = requests.get(
        f"{server.url}/api/ip",
        headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 198.51.100.1"},
        timeout=10,
    )
    assert response.json() == {"ip": "203.0.113.9"}


def test_ipv6_clients(start_server):
    server = start_server(ipv6=True)
    report = requests.get(f"{server.url}/api", timeout=10).json()
    assert (report["ip"], report["ip_version"]) == ("::1", 6)
    text = requests.get(server.url, headers=CURL, timeout=10).text
    assert text == "::1\n"


def test_nonsense_trusted_proxy_hops_stops_the_boot_with_a_clear_message(tmp_path):
    with pytest.raises(RuntimeError, match="TRUSTED_PROXY_HOPS must be a whole number"):
        Server(tmp_path, TRUSTED_PROXY_HOPS="two")


# --- As an operator sees it -----------------------------------------------------


def test_access_log_has_the_request_id_and_no_query_string(heroku, dyno):
    requests.get(f"{heroku.url}/api", params={"token": "s3cret"}, timeout=10)
    time.sleep(0.2)  # the log is written after the response
    lines = [
        line for line in dyno.log().splitlines() if '"GET /api HTTP/1.1" 200' in line
    ]
    assert lines
    assert "s3cret" not in dyno.log()
    request_id = lines[-1].split()[0]
    assert len(request_id) == 36  # the router's UUID


def run_deploy_check(url):
    return subprocess.run(
        [BIN / "python", ROOT / "tests" / "deploy_check.py", url],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("where", ["local", "heroku"])
def test_deploy_check_passes(request, where):
    result = run_deploy_check(request.getfixturevalue(where).url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert "all checks passed" in result.stdout


def test_deploy_check_catches_a_dyno_reachable_without_the_router(dyno):
    result = run_deploy_check(dyno.url)
    assert result.returncode == 1
    assert "FAIL X-Forwarded-For from the client cannot change the IP" in result.stdout


def test_sigterm_stops_the_site_well_inside_herokus_window(start_server):
    server = start_server(WEB_CONCURRENCY="2")
    assert requests.get(f"{server.url}/healthz", timeout=10).ok
    time.sleep(1)  # every worker booted: a signal in mid-boot is another story
    took = server.terminate()
    assert server.process.returncode == 0
    assert took < 10, f"took {took:.1f} s; Heroku sends SIGKILL at 30 s"
    assert "Shutting down: Master" in server.log()


def test_the_web_line_answers_within_seconds_of_boot(local):
    """Every server here is the Procfile line run by `bash -c` with PORT set."""
    assert local.boot_seconds < 5
