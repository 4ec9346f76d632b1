"""The screenshots in the README, as a visitor sees the page on a dyno:
`make screenshots` boots the site from its Procfile and writes them to docs/."""

import sys
from pathlib import Path

# The tests' stand-ins and browser helpers, shared with this tool.
TOP = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(TOP), str(TOP / "tests")]
from support.browser import (  # noqa: E402
    CHROMIUM,
    dual_stack_names,
    launch,
    take_dual_stack_screenshot,
    take_screenshots,
)
from support.scratch import scratch_folder  # noqa: E402
from support.serving import ROOT, DnsServer, Server, free_port  # noqa: E402


def main():
    if not CHROMIUM:
        sys.exit("make screenshots needs Chromium: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    folder = scratch_folder("screenshots-")
    dns = DnsServer(folder)
    server = Server(folder / "server.log", DYNO="web.1", DNS_RESOLVER=dns.address)
    port = free_port()
    urls, switches = dual_stack_names(port)
    dual = Server(folder / "dual.log", port=port, DNS_RESOLVER=dns.address, **urls)
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            shots = take_screenshots(browser, server.url, ROOT / "docs")
            browser.close()
            shots.append(
                take_dual_stack_screenshot(
                    playwright, urls["IPV4_URL"], switches, ROOT / "docs"
                )
            )
        for path in shots:
            print(path.relative_to(ROOT))
    finally:
        for running in (server, dual, dns):
            running.stop()


if __name__ == "__main__":
    main()
