"""`make geodata` and Heroku's bin/post_compile: download the location database
(GEO_DB_URL, this month's file or else last month's), check that it opens,
and move it into place (GEO_DB) in one step, so the site never reads half a
file. Bounded: each read waits at most --timeout seconds, the whole download
at most DOWNLOAD_SECONDS, and no file may grow past its size limit.

    python -m whatismyip.geodata [--timeout 30]
"""

import argparse
import datetime
import os
import sys
import tempfile
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

# DB-IP's City Lite is about 50 MB gzipped and 130 MB unpacked: room to grow,
# and a bound on what a wrong URL can fill a slug (500 MB) with.
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
MAX_FILE_BYTES = 400 * 1024 * 1024
DOWNLOAD_SECONDS = 300
CHUNK_BYTES = 1024 * 1024


class GeodataError(Exception):
    """Why the database could not be installed, in a line."""


def months(today: datetime.date) -> list[str]:
    """This month and the one before, as YYYY-MM: a new file appears early in
    its month, so on the first days only last month's exists."""
    previous = today.replace(day=1) - datetime.timedelta(days=1)
    return [today.strftime("%Y-%m"), previous.strftime("%Y-%m")]


def unpacked(chunks: Iterable[bytes], gzipped: bool) -> Iterator[bytes]:
    """The file's bytes from the download's, unpacked if gzipped; an error if
    it ends early or grows past MAX_FILE_BYTES."""
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if gzipped else None
    size = 0
    for chunk in chunks:
        data = inflate.decompress(chunk, CHUNK_BYTES) if inflate else chunk
        while True:
            size += len(data)
            if size > MAX_FILE_BYTES:
                raise GeodataError(f"the file is larger than {MAX_FILE_BYTES} bytes")
            yield data
            if not (inflate and inflate.unconsumed_tail):
                break
            data = inflate.decompress(inflate.unconsumed_tail, CHUNK_BYTES)
    if inflate and not inflate.eof:
        raise GeodataError("the download ended before the end of the file")


def download(url: str, into: IO[bytes], timeout: float) -> None:
    """Writes the file at `url` (unpacked if it ends in .gz) into `into`."""
    import requests

    began = time.monotonic()
    try:
        with requests.get(url, stream=True, timeout=timeout) as answer:
            if answer.status_code != 200:
                raise GeodataError(f"{url} answered {answer.status_code}")
            received = 0

            def chunks() -> Iterator[bytes]:
                nonlocal received
                for chunk in answer.iter_content(CHUNK_BYTES):
                    received += len(chunk)
                    if received > MAX_DOWNLOAD_BYTES:
                        raise GeodataError(
                            f"the download is larger than {MAX_DOWNLOAD_BYTES} bytes"
                        )
                    if time.monotonic() - began > DOWNLOAD_SECONDS:
                        raise GeodataError(f"took more than {DOWNLOAD_SECONDS} s")
                    yield chunk

            for data in unpacked(chunks(), url.endswith(".gz")):
                into.write(data)
    except requests.RequestException as error:
        raise GeodataError(f"{url}: {type(error).__name__}") from None


def check(path: Path) -> str:
    """What the file says it is, if it opens as a location database."""
    import maxminddb

    from .sources.location import database_source

    try:
        with maxminddb.open_database(str(path)) as reader:
            metadata = reader.metadata()
    except (OSError, ValueError, maxminddb.InvalidDatabaseError):
        raise GeodataError("not a location database") from None
    source = database_source(metadata.database_type, metadata.build_epoch)
    return f"{source['name']} of {source['month']}"


def install(url: str, destination: Path, timeout: float) -> str:
    """Downloads, checks and moves into place; what was installed."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        dir=destination.parent, prefix=".incoming-", suffix=".mmdb", delete=False
    ) as incoming:
        path = Path(incoming.name)
        try:
            download(url, incoming, timeout)
        except BaseException:
            path.unlink()
            raise
    try:
        what = check(path)
        os.replace(path, destination)  # in one step: never half a file
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return what


def fetch(
    template: str, destination: Path, today: datetime.date, timeout: float
) -> str:
    """This month's file, or else last month's; GeodataError saying why not."""
    failures = []
    for month in months(today):
        url = template.replace("{month}", month)
        try:
            return install(url, destination, timeout)
        except GeodataError as error:
            failures.append(str(error))
    raise GeodataError("; ".join(failures))


def main(argv: list[str] | None = None) -> int:
    from .config import SettingError, parse_data_url, parse_geo_db

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=30)
    options = parser.parse_args(argv)
    try:
        destination = parse_geo_db(os.environ.get("GEO_DB", ""))
        template = parse_data_url("GEO_DB_URL", os.environ.get("GEO_DB_URL", ""))
        what = fetch(template, destination, datetime.date.today(), options.timeout)
    except (SettingError, GeodataError) as error:
        print(f"Location database not installed: {error}", file=sys.stderr)
        return 1
    print(f"Installed {what} at {destination}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
