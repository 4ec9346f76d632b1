"""What clients send: a browser's headers and curl's, as the router
forwards a visitor, and the README's dynamic-DNS recipe."""

import itertools

BROWSER = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0",
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
}
CURL = {"User-Agent": "curl/8.5.0", "Accept": "*/*"}
# The README's recipe for a dynamic-DNS script: act only when the address changed.
DDNS_RECIPE = r"""code=$(curl -s --etag-compare ip.etag --etag-save ip.etag -o ip.txt \
  -w '%{http_code}' URL)
if [ "$code" = 200 ]; then echo "changed: $(cat ip.txt)"; fi
"""
# One address per test, so that no test counts against another's allowance.
CLIENTS = (f"203.0.113.{n}" for n in itertools.count(1))


def as_client(address: str, **headers) -> dict:
    """What the router would send for a visitor at `address`."""
    return {"X-Forwarded-For": address, **headers}
