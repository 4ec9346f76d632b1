"""Where an address is: city, region, country and coordinates from DB-IP's IP to
City Lite database (an MMDB file, read with maxminddb's C extension and
memory-mapped, so the workers share its pages), and the time zone from the
coordinates, offline, with tzfpy. Both are answered in microseconds and never
leave the machine. Without the file the site runs, and says so."""

import logging
import time
from pathlib import Path

from .addresses import IPAddress

# The fields a location lookup answers.
LOCATION_FIELDS = (
    "city",
    "region",
    "geo_country",
    "latitude",
    "longitude",
    "time_zone",
)
# What each database calls itself in its metadata, and what people call it.
DATABASE_NAMES = {"DBIP-City-Lite": "DB-IP IP to City Lite"}

log = logging.getLogger("whatismyip")


# --- Pure functions ----------------------------------------------------------------


def english_name(part: dict | None) -> str | None:
    """The English name of a record's city, subdivision or country."""
    return ((part or {}).get("names") or {}).get("en")


def time_zone_at(latitude: float, longitude: float) -> str | None:
    """The IANA time zone at these coordinates; None at sea or off the map."""
    from tzfpy import get_tz

    return get_tz(longitude, latitude) or None


def location_facts(record: dict | None) -> dict:
    """An MMDB record in DB-IP's (and MaxMind's) City layout as the location
    fields; nulls where it has none."""
    if not record:
        return dict.fromkeys(LOCATION_FIELDS)
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
        or (time_zone_at(latitude, longitude) if known else None),
    }


def database_source(database_type: str, build_epoch: int) -> dict:
    """What the file says it is: its name, and the month it was built."""
    return {
        "name": DATABASE_NAMES.get(database_type, database_type),
        "month": time.strftime("%Y-%m", time.gmtime(build_epoch)),
    }


# --- The database ------------------------------------------------------------------


class Locations:
    """The worker's view of the location database: opened once, at boot; if it
    is missing or cannot be read, every answer says location is unavailable,
    and the log says why, once."""

    def __init__(self, path: Path):
        import maxminddb

        self.reader = None
        self.source = None
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

    def locate(self, address: IPAddress) -> dict:
        return location_facts(self.reader.get(address))
