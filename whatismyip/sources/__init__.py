"""The sources of facts about an address, and their registry.

Each source is one module with one `Source` (base.py); the engine (engine.py)
asks them all alike. The registry below is the one list of them: LOOKUPS'
choices, the fields of the answers, the text routes, the OpenAPI document and
the templates are made from it or checked against it. Adding a source is one
module and one line here (docs/architecture.md)."""

from .base import Source
from .country import CountrySource
from .dns import HostnameSource, NetworkSource
from .location import LocationSource
from .rdap import OwnerSource

# In the order the answers show their fields.
SOURCES: tuple[type[Source], ...] = (
    CountrySource,
    NetworkSource,
    HostnameSource,
    LocationSource,
    OwnerSource,
)
NAMES = tuple(source.name for source in SOURCES)
BY_NAME = {source.name: source for source in SOURCES}
