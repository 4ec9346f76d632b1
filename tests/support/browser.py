"""Headless Chromium and the README's screenshots, as a visitor sees the page
on a dyno: the browser tests take them into a temporary folder, and
`make screenshots` (tools/screenshots.py) into docs/."""

import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 320, "height": 640}
# Chromium's own calls home are refused by a closed network, many at a time.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = {
    "screenshot-desktop.png": {"viewport": DESKTOP, "color_scheme": "light"},
    "screenshot-phone-dark.png": {
        "viewport": PHONE,
        "color_scheme": "dark",
        "device_scale_factor": 2,
    },
}
DUAL_STACK_SHOT = "screenshot-both-addresses.png"
# An address the test DNS server knows (serving.DNS_RECORDS), so that the
# pictures show a country, a network and a confirmed hostname.
EXAMPLE_ADDRESS = "8.8.8.8"


def launch(playwright, *extra_args: str):
    return playwright.chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args]
    )


def dual_stack_names(port: int) -> tuple[dict, list[str]]:
    """IPV4_URL and IPV6_URL for a server on `port`, and the Chromium switches
    that make their names single-stack (v4.test reaches it over IPv4 only,
    v6.test over IPv6 only, as an A-only and an AAAA-only hostname would) and
    treat them as the HTTPS origins they are in production."""
    urls = {"IPV4_URL": f"http://v4.test:{port}", "IPV6_URL": f"http://v6.test:{port}"}
    return urls, [
        "--host-resolver-rules=MAP v4.test 127.0.0.1, MAP v6.test [::1]",
        "--unsafely-treat-insecure-origin-as-secure=" + ",".join(urls.values()),
    ]


def take_dual_stack_screenshot(playwright, server_url: str, switches, folder):
    """The page from the IPv4-only name, showing both of the visitor's addresses."""
    browser = launch(playwright, *switches)
    try:
        shot = Visit(browser, server_url, viewport=DESKTOP, color_scheme="light")
        page = shot.open("/")
        page.locator("#ipv6", has_text=":").wait_for()
        page.locator(".families").screenshot(path=folder / DUAL_STACK_SHOT)
        assert shot.errors == [], shot.errors
        return folder / DUAL_STACK_SHOT
    finally:
        browser.close()


class Visit:
    """A page, recording console errors and every request it makes."""

    def __init__(self, browser, base_url, **context_options):
        self.context = browser.new_context(**context_options)
        self.page = self.context.new_page()
        self.errors = []
        self.requests = []
        self.page.on(
            "console",
            lambda message: (
                message.type == "error" and self.errors.append(message.text)
            ),
        )
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", lambda request: self.requests.append(request))
        self.base_url = base_url

    def open(self, path="/"):
        self.page.goto(self.base_url + path, wait_until="load")
        return self.page


def take_screenshots(browser, dyno_url: str, folder: Path) -> list[Path]:
    """The page from a dyno for an example address, the snippets' host shown as
    a placeholder, so that the pictures change only when the page does."""
    paths = []
    for name, options in SHOTS.items():
        shot = Visit(
            browser,
            dyno_url,
            extra_http_headers={"X-Forwarded-For": EXAMPLE_ADDRESS},
            **options,
        )
        page = shot.open("/?name=value&name=again&q=hello+world&empty=")
        assert page.locator("#ip").inner_text() == EXAMPLE_ADDRESS
        assert "dns.google" in page.locator(".hero .address-facts").inner_text()
        page.locator(".owner .owner-facts").wait_for()  # fetched after the load
        page.evaluate(
            """origin => document.querySelectorAll(".code").forEach(code => {
                code.textContent = code.textContent.replaceAll(
                    origin, "https://your-app.example");
            })""",
            dyno_url,
        )
        page.screenshot(path=folder / name, full_page=True)
        shot.context.close()
        assert shot.errors == [], shot.errors
        paths.append(folder / name)
    return paths
