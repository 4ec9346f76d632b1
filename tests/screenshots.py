"""The screenshots in the README, as a visitor sees the page on a dyno.

`make screenshots` boots the site from its Procfile and writes them to docs/;
the browser tests take the same pictures into a temporary folder.
"""

import shutil
import sys
import tempfile
from pathlib import Path

from serving import ROOT, DnsServer, Server

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
# An address the test DNS server knows (serving.DNS_RECORDS), so that the
# pictures show a country, a network and a confirmed hostname.
EXAMPLE_ADDRESS = "8.8.8.8"


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


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
        assert "dns.google" in page.locator(".address-facts").inner_text()
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


def main():
    if not CHROMIUM:
        sys.exit("make screenshots needs Chromium: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp())
    dns = DnsServer(folder)
    server = Server(folder / "server.log", DYNO="web.1", DNS_RESOLVER=dns.address)
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            for path in take_screenshots(browser, server.url, ROOT / "docs"):
                print(path.relative_to(ROOT))
            browser.close()
    finally:
        server.stop()
        dns.stop()


if __name__ == "__main__":
    main()
