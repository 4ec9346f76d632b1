"""A small location database in DB-IP's IP to City Lite layout (MaxMind's City
records, in an MMDB file with IPv4 inside an IPv6 tree), built by the tests
with a writer from PyPI: never a copy of the real data."""

import os
import subprocess
import sys
from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

from whatismyip.sources.location import LOCATION_FIELDS

from . import ROOT


def city(name, region, country, latitude, longitude) -> dict:
    return {
        "city": {"names": {"en": name}},
        "subdivisions": [{"names": {"en": region}}],
        "country": {"iso_code": country, "names": {"en": country}},
        "location": {"latitude": latitude, "longitude": longitude},
    }


# Made-up places for real addresses, as the database would have them.
PLACES = {
    "8.8.8.0/24": city("Mountain View", "California", "US", 37.4056, -122.0775),
    "2001:4860::/32": city("Mountain View", "California", "US", 37.4056, -122.0775),
    # Registered to Australia (APNIC), located in the United States.
    "1.1.1.0/24": city("Los Angeles", "California", "US", 34.0522, -118.2437),
    "193.0.6.0/24": city("Amsterdam", "North Holland", "NL", 52.3676, 4.9041),
    # A country and nothing more.
    "9.9.9.0/24": {"country": {"iso_code": "CH", "names": {"en": "Switzerland"}}},
}


def build_city_database(path: Path, places: dict = PLACES) -> Path:
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="DBIP-City-Lite",
        languages=["en"],
        description={"en": "A stand-in for dbip.com's IP to City Lite"},
    )
    for network, record in places.items():
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return path


# The location fields, and the database named in every answer.
LOCATED = [*LOCATION_FIELDS, "geo_source"]
# The Python running the tests, as `python` on a build's PATH.
PYTHON_BIN = os.path.dirname(sys.executable)


def geodata(url: str, destination, command=("-m", "whatismyip.geodata"), *extra):
    """`make geodata`'s command, with GEO_DB and GEO_DB_URL set."""
    return subprocess.run(
        [sys.executable, *command, *extra],
        cwd=ROOT,
        env={"GEO_DB": str(destination), "GEO_DB_URL": url, "PATH": PYTHON_BIN},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def post_compile(url: str, destination):
    """bin/post_compile as the buildpack runs it, with `python` on the PATH."""
    return subprocess.run(
        ["bash", ROOT / "bin" / "post_compile"],
        cwd=ROOT,
        env={
            "GEO_DB": str(destination),
            "GEO_DB_URL": url,
            "PATH": f"{PYTHON_BIN}:/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
