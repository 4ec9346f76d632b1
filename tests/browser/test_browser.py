"""The page in a real headless Chromium (Debian's), against the site booted from
its Procfile. Skipped, and said so, where Chromium is not installed; never in CI."""

import http.server
import json
import os
import re
import socket
import threading
import time
from urllib.parse import quote, urlsplit

import pytest
import requests

from support.browser import (
    CHROMIUM,
    DESKTOP,
    PHONE,
    Visit,
    dual_stack_names,
    launch,
    take_dual_stack_screenshot,
    take_screenshots,
)
from support.serving import free_port

if not CHROMIUM:
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the browser tests: apt-get install chromium")
    pytest.skip(
        "browser tests skipped: Chromium is not installed (apt-get install chromium)",
        allow_module_level=True,
    )

from axe_playwright_python.sync_playwright import Axe  # noqa: E402
from playwright.sync_api import expect, sync_playwright  # noqa: E402

HOSTILE = '"><script>window.pwned=1</script><img src=x onerror="window.pwned=1">'
UNICODE = "Grüße ✓ 日本語 🙂 a+b=c&d %41"


@pytest.fixture(scope="session")
def playwright(local):  # closed before the servers, so no connection is left open
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright):
    browser = launch(playwright)
    yield browser
    browser.close()


@pytest.fixture
def visit(browser, local):
    visits = []

    def open_visit(path="/", **context_options):
        context_options.setdefault("viewport", DESKTOP)
        visit = Visit(browser, local.url, **context_options)
        visit.open(path)
        visits.append(visit)
        return visit

    yield open_visit
    for visit in visits:
        assert visit.errors == [], "the console showed errors"
        visit.context.close()


def api_args(page):
    """What the site reports for the query string the page now shows."""
    query = urlsplit(page.url).query
    response = page.request.get(f"{page.url.split('?')[0]}api?{query}")
    return response.json()["args"]


def test_the_ip_and_args_render_and_hostile_values_stay_inert(visit):
    hostile = quote(HOSTILE, safe="")
    page = visit(f"/?x={hostile}&x=2&{hostile}=k").page
    assert page.locator("#ip").inner_text() == "127.0.0.1"
    assert page.locator(".facts").inner_text().split() == ["IPv4", "Loopback"]
    cells = page.locator("table.args").first.locator("tbody td").all_inner_texts()
    assert cells == ["x", HOSTILE, "x", "2", HOSTILE, "k"]
    assert page.evaluate("window.pwned") is None
    assert page.locator("img[src=x]").count() == 0


def test_the_copy_button_puts_the_ip_on_the_clipboard(visit):
    page = visit(permissions=["clipboard-read", "clipboard-write"]).page
    button = page.locator('button[data-copy="ip"]')
    before = button.bounding_box()
    button.focus()
    page.keyboard.press("Enter")  # reachable and usable from the keyboard
    expect(page.locator(".status")).to_have_text("Copied")
    expect(button).to_have_text("Copied")
    assert button.bounding_box() == before  # no layout shift
    assert page.evaluate("navigator.clipboard.readText()") == "127.0.0.1"


def test_snippets_name_this_site_and_copy(visit, local):
    page = visit(permissions=["clipboard-read", "clipboard-write"]).page
    snippet = page.locator("#snippet-python").inner_text()
    assert f'requests.get("{local.url}/api"' in snippet
    page.locator('button[data-copy="snippet-fetch"]').click()
    assert f"{local.url}/api/ip" in page.evaluate("navigator.clipboard.readText()")


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_the_args_form_round_trips_hostile_and_unicode_values(visit, javascript):
    page = visit("/?keep=1&drop=2", java_script_enabled=javascript).page
    rows = page.locator(".arg-rows .arg-row")
    # Drop the second row by clearing it, and fill the blank row at the end.
    rows.nth(1).locator("input").nth(0).fill("")
    rows.nth(1).locator("input").nth(1).fill("")
    rows.nth(2).locator("input").nth(0).fill(HOSTILE)
    rows.nth(2).locator("input").nth(1).fill(UNICODE)
    if javascript:
        page.get_by_role("button", name="Add an argument").click()
        rows.nth(3).locator("input").nth(0).fill(UNICODE)
        rows.nth(3).locator("input").nth(1).fill("")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/?**")
    expected = {"keep": ["1"], HOSTILE: [UNICODE]}
    if javascript:
        expected[UNICODE] = [""]
    assert api_args(page) == expected
    assert HOSTILE in page.locator("table.args").first.inner_text()


def test_remove_buttons_drop_rows(visit):
    page = visit("/?a=1&b=2").page
    page.locator(".arg-row").nth(0).get_by_role("button", name="Remove").click()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/?b=2")
    assert api_args(page) == {"b": ["2"]}


def test_no_request_leaves_the_origin(visit, local):
    started = visit("/?a=1")
    started.page.wait_for_load_state("networkidle")
    origins = {
        "{0.scheme}://{0.netloc}".format(urlsplit(r.url)) for r in started.requests
    }
    assert origins == {local.url}
    assert started.page.locator(".families").count() == 0


def background_luminance(page):
    rgb = page.evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = (
        int(part) for part in rgb[rgb.index("(") + 1 : -1].split(",")[:3]
    )
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


def test_dark_mode_follows_the_system_setting(visit):
    assert background_luminance(visit(color_scheme="light").page) > 0.8
    assert background_luminance(visit(color_scheme="dark").page) < 0.2


def test_a_phone_has_no_horizontal_scroll(visit):
    long_query = "/?" + "&".join(
        [f"{'k' * 60}={'v' * 120}", f"header={'x' * 300}", "ipv6=2001:db8::1"]
    )
    page = visit(long_query, viewport=PHONE, color_scheme="dark").page
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_or_critical_violations(visit, scheme):
    page = visit("/?a=1&a=&b=%3Cb%3E", color_scheme=scheme).page
    page.locator("details").first.evaluate("details => details.open = true")
    violations = Axe().run(page).response["violations"]
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []


def test_the_first_load_weighs_under_30_kb(visit):
    loaded = visit("/")
    loaded.page.wait_for_load_state("networkidle")
    sizes = {
        request.url: request.sizes()["responseBodySize"]
        + request.sizes()["responseHeadersSize"]
        for request in loaded.requests
        if request.response()
    }
    total = sum(sizes.values())
    assert len(sizes) >= 4, sizes  # the page, its stylesheet, script and icon
    assert total < 30 * 1024, json.dumps(sizes, indent=2)


def test_screenshots_for_the_readme(browser, dyno, tmp_path):
    """What `make screenshots` puts in docs/, taken here into a temporary folder."""
    for path in take_screenshots(browser, dyno.url, tmp_path):
        assert path.stat().st_size > 10_000


@pytest.fixture(scope="module")
def dual_stack(start_server):
    """The site with IPV4_URL and IPV6_URL, and a browser that resolves their
    names to 127.0.0.1 and [::1] only."""
    port = free_port()
    urls, switches = dual_stack_names(port)
    return start_server(port=port, **urls), urls, switches


@pytest.fixture
def dual_browser(playwright, dual_stack):
    browser = launch(playwright, *dual_stack[2])
    yield browser
    browser.close()


def test_the_page_shows_both_addresses(dual_browser, dual_stack):
    server, urls, _ = dual_stack
    visit = Visit(dual_browser, urls["IPV4_URL"], viewport=DESKTOP)
    page = visit.open("/")
    expect(page.locator("#ipv4")).to_have_text("127.0.0.1")
    expect(page.locator("#ipv6")).to_have_text("::1")
    expect(page.locator('button[data-copy="ipv6"]')).to_be_visible()
    page.wait_for_load_state("networkidle")
    origins = {
        "{0.scheme}://{0.netloc}".format(urlsplit(r.url)) for r in visit.requests
    }
    assert origins == {urls["IPV4_URL"], urls["IPV6_URL"]}
    assert visit.errors == []
    visit.context.close()


def test_a_missing_family_is_told_apart_from_a_broken_one(playwright, start_server):
    """IPv6 hangs (a listener that never answers), as on a network whose IPv6 is
    broken, and IPv4 is refused, as where there is none: the page gives up on
    the first within seconds, and says which is which."""
    with (
        socket.create_server(("127.0.0.1", 0)) as black_hole,
        socket.create_server(("127.0.0.1", 0)) as closed,
    ):
        refused_port = closed.getsockname()[1]
        closed.close()
        server = start_server(
            IPV4_URL=f"http://v4.test:{refused_port}",
            IPV6_URL=f"http://v6.test:{black_hole.getsockname()[1]}",
        )
        browser = launch(playwright, "--host-resolver-rules=MAP * 127.0.0.1")
        try:
            page = Visit(browser, server.url, viewport=DESKTOP).open("/")
            expect(page.locator("#ipv4")).to_have_text(
                "Not available: no IPv4 connection from this network."
            )
            expect(page.locator("#ipv6")).to_have_text(
                "Not available: no answer over IPv6 within 4 seconds; this "
                "network's IPv6 may be missing or broken.",
                timeout=8000,
            )
            expect(page.locator('button[data-copy="ipv6"]')).to_be_hidden()
        finally:
            browser.close()


class Refusing(http.server.BaseHTTPRequestHandler):
    """A stand-in for the site under its IPv6 name that answers 503, readable
    from the page's origin as the site's answers are."""

    def do_GET(self):
        self.send_response(503)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_refusal_by_the_site_is_not_called_a_missing_family(playwright, start_server):
    """Over IPv4 the site itself answers 429 (the page's own load took the
    allowance of one), and over IPv6 a 503: the page says so, not that the
    network lacks IPv4 or IPv6."""
    stand_in = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=stand_in.serve_forever, daemon=True).start()
    port = free_port()
    server = start_server(
        port=port,
        RATE_LIMIT="1/minute",
        WEB_CONCURRENCY="1",  # one worker's count
        IPV4_URL=f"http://v4.test:{port}",
        IPV6_URL=f"http://v6.test:{stand_in.server_address[1]}",
    )
    browser = launch(playwright, "--host-resolver-rules=MAP * 127.0.0.1")
    try:
        page = Visit(browser, server.url, viewport=DESKTOP).open("/")
        expect(page.locator("#ipv4")).to_have_text(
            re.compile(
                r"^Not checked: too many requests from this network just now; "
                r"try again in \d+ seconds\.$"
            )
        )
        expect(page.locator("#ipv6")).to_have_text(
            "Not checked: the site answered 503 over IPv6; try again later."
        )
    finally:
        browser.close()
        stand_in.shutdown()


def test_an_ipv4_literal_in_ipv4_url_works_in_chromium(playwright, start_server):
    """The settings accept an IPv4 literal (and refuse an IPv6 one) because
    Chromium takes the first in a Content-Security-Policy and drops the second."""
    port = free_port()
    urls, switches = dual_stack_names(port)
    urls["IPV4_URL"] = f"http://127.0.0.1:{port}"
    server = start_server(port=port, **urls)
    browser = launch(playwright, *switches)
    try:
        visit = Visit(browser, urls["IPV6_URL"], viewport=DESKTOP)
        page = visit.open("/")
        expect(page.locator("#ipv4")).to_have_text("127.0.0.1")
        expect(page.locator("#ipv6")).to_have_text("::1")
        assert visit.errors == []  # no fetch refused by the page's policy
        policy = requests.get(server.url, timeout=10).headers["Content-Security-Policy"]
        assert f"connect-src 'self' http://127.0.0.1:{port} " in policy
    finally:
        browser.close()


def test_the_readme_picture_of_both_addresses(playwright, dual_stack, tmp_path):
    _, urls, switches = dual_stack
    path = take_dual_stack_screenshot(playwright, urls["IPV4_URL"], switches, tmp_path)
    assert path.stat().st_size > 5_000


@pytest.fixture(scope="module")
def behind_a_proxy(start_server):
    """The browser's X-Forwarded-For is trusted, so that it may visit from a
    public address; registries get 2 s to answer."""
    return start_server(TRUSTED_PROXY_HOPS="1", RDAP_TIMEOUT="2")


def visit_from(browser, server, address: str, **options) -> Visit:
    return Visit(
        browser,
        server.url,
        viewport=DESKTOP,
        extra_http_headers={"X-Forwarded-For": address},
        **options,
    )


def test_the_owner_card_arrives_after_the_page(browser, behind_a_proxy):
    visit = visit_from(browser, behind_a_proxy, "193.0.6.139")
    page = visit.open("/")
    abuse = page.locator(".owner a.abuse")
    expect(abuse).to_have_text("abuse@ripe.net")
    expect(abuse).to_have_attribute("href", "mailto:abuse@ripe.net")
    expect(page.locator(".owner .organization")).to_contain_text("RIPE NCC")
    violations = Axe().run(page).response["violations"]
    assert [v["id"] for v in violations if v["impact"] in ("serious", "critical")] == []
    assert visit.errors == []
    visit.context.close()


def test_a_silent_registry_never_holds_the_page_up(browser, behind_a_proxy):
    visit = visit_from(browser, behind_a_proxy, "5.5.5.9")  # a registry that hangs
    started = time.monotonic()
    page = visit.open("/")  # until the load event
    loaded = time.monotonic() - started
    card = page.locator(".owner")
    assert "Asking the registry…" in card.inner_text()  # still waiting at load
    assert loaded < 1.5, f"the page took {loaded:.1f} s, as if it waited for RDAP"
    expect(card.locator(".unavailable")).to_have_text(
        "The registry could not be asked just now; try again in a minute.",
        timeout=5000,
    )
    assert visit.errors == []
    visit.context.close()


def test_without_javascript_the_card_links_the_lookup_page(browser, behind_a_proxy):
    visit = visit_from(browser, behind_a_proxy, "8.8.8.8", java_script_enabled=False)
    page = visit.open("/")
    page.get_by_role("link", name="See who runs this network").click()
    expect(page.locator(".owner a.abuse")).to_have_text("network-abuse@google.com")
    assert visit.errors == []
    visit.context.close()
