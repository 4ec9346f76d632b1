"""Page, JSON or text: what a client asked for, or would expect."""

import pytest

from whatismyip.web.negotiation import choose_format

CURL = "curl/8.5.0"
WGET = "Wget/1.21.4"
HTTPIE = "HTTPie/3.2.2"
POWERSHELL = (
    "Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.22621.2506"
)
PWSH7 = (
    "Mozilla/5.0 (Windows NT 10.0; Microsoft Windows 10.0.22631; en-US) "
    "PowerShell/7.4.1"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
FIREFOX_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
CHROME_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)


@pytest.mark.parametrize(
    ("accept", "user_agent", "expected"),
    [
        # Browsers get the page.
        (FIREFOX_ACCEPT, FIREFOX, "html"),
        (CHROME_ACCEPT, CHROME, "html"),
        ("", FIREFOX, "html"),
        ("*/*", FIREFOX, "html"),
        ("text/*", FIREFOX, "html"),
        # Scripts never get HTML they did not name: text, or JSON if they ask.
        ("*/*", "python-requests/2.32.3", "text"),
        ("", "Go-http-client/1.1", "text"),
        ("", "", "text"),
        ("text/*", "", "text"),
        ("*/*, text/plain;q=0.5", "okhttp/4.12.0", "json"),
        ("text/html", "python-requests/2.32.3", "html"),
        # Command-line clients get the bare address, unless they ask otherwise.
        ("*/*", CURL, "text"),
        ("", CURL, "text"),
        ("*/*", WGET, "text"),
        ("application/json, */*;q=0.5", HTTPIE, "json"),
        ("*/*", HTTPIE, "text"),
        ("*/*", "xh/0.22.0", "text"),
        ("", POWERSHELL, "text"),
        ("", PWSH7, "text"),
        ("application/json", CURL, "json"),
        ("text/html", CURL, "html"),
        # Accept decides, with q-values and parameters read properly.
        ("application/json", FIREFOX, "json"),
        ("application/json; charset=utf-8", "", "json"),
        ("Application/JSON", "", "json"),
        ("application/*", "", "json"),
        ("text/plain", FIREFOX, "text"),
        ("text/plain;charset=UTF-8", "", "text"),
        ("text/plain;q=0.5, application/json;q=0.9", "", "json"),
        ("application/json;charset=UTF-8;q=0.9, text/plain;q=0.5", "", "json"),
        ("text/html;q=0.1, text/plain", "", "text"),
        ("text/*, text/plain;q=0", FIREFOX, "html"),
        ("*/*;q=0.1, application/json", "", "json"),
        # A named type beats a wildcard of the same quality.
        ("*/*, application/json", "", "json"),
        ("*/*, text/plain", FIREFOX, "text"),
        ("application/json;q=0, */*", FIREFOX, "html"),
        ("application/json;q=0, */*", "", "text"),
        # The most specific range decides a type's quality, wherever it stands.
        ("*/*, text/*;q=0.5", FIREFOX, "json"),
        ("*, text/*;q=0.5", FIREFOX, "json"),
        ("text/*, text/plain;q=0.1", FIREFOX, "html"),
        ("text/*, text/plain;q=0.1", CURL, "text"),
        # The exact type's own quality counts, not a wildcard's before it.
        ("text/*;q=0.5, text/plain;q=0.1, application/json;q=0.3", "", "json"),
        # Of two ranges as specific as each other, the higher quality counts.
        ("text/html;q=0.2, text/html;q=0.8, application/json;q=0.5", "", "html"),
        # A range for another type lends nobody its quality.
        ("image/png, application/json;q=0.5", FIREFOX, "json"),
        # Nothing acceptable, or nonsense: fall back to what the client is.
        ("image/png", FIREFOX, "html"),
        ("image/png", "", "text"),
        ("image/png", CURL, "text"),
        ("garbage;;;q=abc, ,,", FIREFOX, "html"),
        ("garbage;;;q=abc, ,,", "", "text"),
        ("text/html;q=2", CURL, "text"),
        ("application/json;q=0", FIREFOX, "html"),
        ("application/json;q=0", "", "text"),
        # PowerShell's User-Agent begins like a browser's.
        ("*/*", POWERSHELL, "text"),
    ],
)
def test_choose_format(accept, user_agent, expected):
    assert choose_format(accept, user_agent) == expected
