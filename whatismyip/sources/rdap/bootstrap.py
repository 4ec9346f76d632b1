"""IANA's RDAP bootstrap files (RFC 9224): which registry holds which
addresses. Fetched when first needed and refreshed while the site runs."""

import ipaddress
import logging
from functools import partial
from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson
import requests

from ...addresses import IPAddress
from ...infra import http
from ...infra.refreshed import Refreshed

# IANA's files change a few times a year: kept a day, and while they cannot be
# fetched, the last copy is used and a new one tried every minute.
BOOTSTRAP_TTL, BOOTSTRAP_RETRY = 86400, 60
# The files are tens of kilobytes.
MAX_BOOTSTRAP_BYTES = 1024 * 1024

Table = list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]

log = logging.getLogger("whatismyip")


def parse_bootstrap(document: Any) -> Table:
    """(network, base URL) from an RFC 9224 bootstrap file: each service is a
    list of prefixes and a list of base URLs, of which an https one is used."""
    table = []
    services = document.get("services") if isinstance(document, dict) else None
    for service in services if isinstance(services, list) else []:
        if not (isinstance(service, list) and len(service) == 2):
            continue
        prefixes, urls = service
        if not (isinstance(prefixes, list) and isinstance(urls, list)):
            continue
        urls = [url for url in urls if isinstance(url, str)]
        base = next((url for url in urls if url.startswith("https://")), None) or next(
            (url for url in urls if url.startswith("http://")), None
        )
        if base is None:
            continue
        for prefix in prefixes:
            try:
                table.append((ipaddress.ip_network(str(prefix)), base))
            except ValueError:
                continue
    return table


def registry_base(table: Table, address: IPAddress) -> str | None:
    """The base URL of the registry holding `address`: the longest prefix."""
    best = None
    for network, base in table:
        if address in network and (best is None or network.prefixlen > best[0]):
            best = (network.prefixlen, base)
    return best[1] if best else None


class Bootstrap:
    """The worker's copy of both files, each refreshed on its own."""

    def __init__(self, client: requests.Session, base_url: str):
        self.client = client
        self.tables: dict[int, Refreshed[Table]] = {
            version: Refreshed(
                partial(self._fetch, version), BOOTSTRAP_TTL, BOOTSTRAP_RETRY
            )
            for version in (4, 6)
        }
        self.base_url = base_url

    def _fetch(self, version: int, deadline: float) -> Table | None:
        url = urljoin(self.base_url, f"ipv{version}.json")
        try:
            reply = http.get(self.client, url, deadline, MAX_BOOTSTRAP_BYTES)
            table = (
                parse_bootstrap(orjson.loads(reply.body)) if reply.status == 200 else []
            )
        except (http.Failed, orjson.JSONDecodeError):
            table = []
        if not table:
            log.warning("RDAP bootstrap %s could not be read", url)
            return None
        return table

    def table(self, version: int, deadline: float) -> Table | None:
        return self.tables[version].get(deadline)

    def hosts(self) -> set[str]:
        """The registries' hosts, as the files list them: where a redirect may go."""
        return {
            urlsplit(base).netloc
            for refreshed in self.tables.values()
            for _, base in refreshed.value or ()
        }
