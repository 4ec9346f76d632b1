"""Where an address is: city, region, country and coordinates from DB-IP's IP to
City Lite database (an MMDB file, read with maxminddb's C extension and
memory-mapped, so the workers share its pages), and the time zone from the
coordinates, offline, with tzfpy. Both are answered in microseconds and never
leave the machine. Without the file the site runs, and says so."""

import logging
import time
from pathlib import Path
from typing import Any, TypedDict

from ..addresses import IPAddress
from .base import Answer, Origin, Setup, Source, Unavailable


class LocationFacts(TypedDict):
    city: str | None
    region: str | None
    geo_country: str | None
    latitude: float | None
    longitude: float | None
    time_zone: str | None


class GeoSource(TypedDict):
    """What the database says it is: `geo_source` in every answer."""

    name: str
    month: str


LOCATION_FIELDS = tuple(LocationFacts.__annotations__)
# What each database calls itself in its metadata, and what people call it.
DATABASE_NAMES = {"DBIP-City-Lite": "DB-IP IP to City Lite"}
DATABASE_URL = "https://db-ip.com/db/download/ip-to-city-lite"

log = logging.getLogger("whatismyip")


def english_name(part: Any) -> str | None:
    """The English name of a record's city, subdivision or country."""
    name: str | None = ((part or {}).get("names") or {}).get("en")
    return name


def time_zone_at(latitude: float, longitude: float) -> str | None:
    """The IANA time zone at these coordinates; None at sea or off the map."""
    from tzfpy import get_tz

    return get_tz(longitude, latitude) or None


def location_facts(record: Any) -> LocationFacts:
    """An MMDB record in DB-IP's (and MaxMind's) City layout as the location
    fields; nulls where it has none."""
    if not record:
        return {
            "city": None,
            "region": None,
            "geo_country": None,
            "latitude": None,
            "longitude": None,
            "time_zone": None,
        }
    place = record.get("location") or {}
    latitude, longitude = place.get("latitude"), place.get("longitude")
    known = latitude is not None and longitude is not None
    subdivisions = record.get("subdivisions") or [{}]
    return {
        "city": english_name(record.get("city")),
        "region": english_name(subdivisions[0]),
        "geo_country": (record.get("country") or {}).get("iso_code"),
        "latitude": latitude if known else None,
        "longitude": longitude if known else None,
        "time_zone": place.get("time_zone")
        or (time_zone_at(latitude, longitude) if known else None),  # type: ignore[arg-type]
    }


def database_source(database_type: str, build_epoch: int) -> GeoSource:
    """What the file says it is: its name, and the month it was built."""
    return {
        "name": DATABASE_NAMES.get(database_type, database_type),
        "month": time.strftime("%Y-%m", time.gmtime(build_epoch)),
    }


class LocationSource(Source):
    """The worker's view of the location database: opened once, at boot; if it
    is missing or cannot be read, every answer says location is unavailable,
    and the log says why, once."""

    name = "location"
    fields = LOCATION_FIELDS
    empty = dict.fromkeys(LOCATION_FIELDS)
    instant = True

    def __init__(self, path: Path):
        import maxminddb

        self.reader: Any = None
        self.source: GeoSource | None = None
        try:
            reader = maxminddb.open_database(str(path), maxminddb.MODE_MMAP_EXT)
        except FileNotFoundError:
            log.warning(
                "No location database at %s: the site runs without location "
                "(make geodata installs it)",
                path,
            )
            return
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
            log.warning(
                "The location database at %s cannot be read (%s): the site runs "
                "without location",
                path,
                type(error).__name__,
            )
            return
        metadata = reader.metadata()
        self.reader = reader
        self.source = database_source(metadata.database_type, metadata.build_epoch)
        time_zone_at(0.0, 0.0)  # tzfpy builds its finder on the first call

    @classmethod
    def build(cls, setup: Setup) -> "LocationSource":
        return cls(setup.settings["GEO_DB"])

    def ask(self, address: IPAddress, deadline: float) -> Answer:
        if self.reader is None:
            raise Unavailable
        return Answer(location_facts(self.reader.get(address)))

    def origin(self) -> Origin | None:
        if self.source is None:
            return None
        return Origin(self.source["name"], DATABASE_URL, self.source["month"])
