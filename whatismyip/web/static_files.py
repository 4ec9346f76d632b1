"""static/, served by whitenoise under content-hashed names, pre-compressed."""

import atexit
import hashlib
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

HASHED_NAME = r"\.[0-9a-f]{12}\.\w+$"


def hashed_name(name: str, content: bytes) -> str:
    """style.css -> style.<12 hex digits of its content>.css"""
    stem, dot, suffix = name.rpartition(".")
    digest = hashlib.sha256(content).hexdigest()[:12]
    return f"{stem}.{digest}.{suffix}" if dot else f"{name}.{digest}"


# Once per process: a worker builds one app, and the tests many, from one
# static/ (each build compresses every file, a fifth of a second).
@lru_cache(maxsize=4)
def collect_static(source: Path) -> tuple[Path, dict[str, str]]:
    """Copies `source` to a build directory under content-hashed names as well as
    the plain ones, with gzip and Brotli variants beside each file.

    Built at boot, in each worker: it takes milliseconds, needs no build step,
    and what is served always matches the source. The directory is new and
    private (mkdtemp: a fresh random name, mode 0700), so nothing another local
    user planted can be served in its place, and it goes when the worker does.
    """
    build = Path(tempfile.mkdtemp(prefix="whatismyip-static-"))
    atexit.register(shutil.rmtree, build, ignore_errors=True)
    names = {}
    compressor = Compressor(quiet=True)
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        name = path.relative_to(source).as_posix()
        content = path.read_bytes()
        names[name] = hashed_name(name, content)
        for output in (build / name, build / names[name]):
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_bytes(content)
            if compressor.should_compress(output.name):
                compressor.compress(str(output))
    return build, names


def add_static_headers(headers: Any, path: str, url: str) -> None:
    headers["X-Content-Type-Options"] = "nosniff"


def static_url(name: str) -> str:
    """The URL of a static file, content-hashed so that caches may keep it forever."""
    urls: dict[str, str] = current_app.extensions["static_urls"]
    return urls.get(name, f"/static/{name}")


def init_app(app: Flask) -> None:
    """Puts whitenoise in front of the app. With STATIC_AUTOREFRESH (`make run`),
    static/ is served straight from disk under its plain names, so edits show."""
    source = Path(app.root_path) / "static"
    autorefresh = app.config["STATIC_AUTOREFRESH"]
    root, names = (source, {}) if autorefresh else collect_static(source)
    # Worked out once: templates read `assets["style.css"]`, a dictionary lookup.
    urls = {
        path.relative_to(source).as_posix(): "/static/"
        + names.get(
            path.relative_to(source).as_posix(), path.relative_to(source).as_posix()
        )
        for path in source.rglob("*")
        if path.is_file()
    }
    app.extensions["static_urls"] = urls
    app.jinja_env.globals["assets"] = urls
    app.wsgi_app = WhiteNoise(  # type: ignore[method-assign]
        app.wsgi_app,
        root=root,
        prefix="static/",
        autorefresh=autorefresh,
        immutable_file_test=HASHED_NAME,
        add_headers_function=add_static_headers,
    )
