"""Which format a client asked for, or would expect. Pure functions, no HTTP."""

from functools import lru_cache

from werkzeug.http import parse_accept_header

# User-Agent prefixes of command-line clients, which get the bare address as text
# unless their Accept header asks for something else (as on ifconfig.co).
COMMAND_LINE_AGENTS = (
    "curl/",
    "wget/",
    "httpie/",
    "xh/",
    "fetch libfetch",
    "go-http-client/",
    "ddclient/",
    "mikrotik/",
)

MEDIA_TYPES = {"html": "text/html", "json": "application/json", "text": "text/plain"}
# Ties between equally acceptable formats go to what the client is: a browser
# reads the page; a script or a terminal reads text, then JSON, and is never
# handed HTML it did not name.
BROWSER_PREFERENCE = ("html", "json", "text")
SCRIPT_PREFERENCE = ("text", "json", "html")


def _match_quality(
    accepted: list[tuple[str, float]], media_type: str, wildcards: bool
) -> tuple[float, int]:
    """(q, specificity) of the most specific range in Accept covering media_type;
    without `wildcards`, only the type named outright covers it."""
    main_type = media_type.split("/")[0]
    ranges = {media_type: 2}
    if wildcards:
        ranges.update({f"{main_type}/*": 1, "*/*": 0, "*": 0})
    best = (0.0, -1)
    for value, quality in accepted:
        specificity = ranges.get(value.split(";")[0].strip().lower())
        if specificity is not None and specificity > best[1]:
            best = (quality, specificity)
    return best


# Clients send the same few Accept and User-Agent headers over and over: each
# answer is worked out once per worker (bounded), not parsed on every request.
@lru_cache(maxsize=1024)
def is_command_line(user_agent: str) -> bool:
    """curl, Wget, HTTPie, PowerShell and other plain clients, as on ifconfig.co."""
    agent = user_agent.lower()
    return agent.startswith(COMMAND_LINE_AGENTS) or "powershell" in agent


def is_browser(user_agent: str) -> bool:
    """Every browser's User-Agent begins "Mozilla/"; so does PowerShell's, which
    is a command-line client."""
    return user_agent.startswith("Mozilla/") and not is_command_line(user_agent)


@lru_cache(maxsize=1024)
def choose_format(accept: str, user_agent: str) -> str:
    """What this client asked for, or would expect: "html", "json" or "text".

    Parameters such as charset do not change the media type. Among equally
    acceptable types, one named outright beats a wildcard; a tie goes to what
    the client is (BROWSER_PREFERENCE or SCRIPT_PREFERENCE). Only a browser's
    wildcard covers HTML: any other client gets a page only by naming
    text/html. An Accept header nothing satisfies is ignored.
    """
    browser = is_browser(user_agent)
    preference = BROWSER_PREFERENCE if browser else SCRIPT_PREFERENCE
    accepted = list(parse_accept_header(accept))
    qualities = {
        fmt: _match_quality(accepted, MEDIA_TYPES[fmt], browser or fmt != "html")
        for fmt in preference
    }
    # sorted() is stable, so ties keep the preference order.
    best = sorted(preference, key=qualities.__getitem__, reverse=True)[0]
    return best if qualities[best][0] > 0 else preference[0]
