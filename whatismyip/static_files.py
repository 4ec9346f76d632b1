"""static/, served by whitenoise under content-hashed names, pre-compressed."""

import hashlib
import shutil
import tempfile
from pathlib import Path

from flask import Flask, current_app
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

HASHED_NAME = r"\.[0-9a-f]{12}\.\w+$"


def hashed_name(name: str, content: bytes) -> str:
    """style.css -> style.<12 hex digits of its content>.css"""
    stem, dot, suffix = name.rpartition(".")
    digest = hashlib.sha256(content).hexdigest()[:12]
    return f"{stem}.{digest}.{suffix}" if dot else f"{name}.{digest}"


def collect_static(source: Path) -> tuple[Path, dict[str, str]]:
    """Copies `source` to a build directory under content-hashed names as well as
    the plain ones, with gzip and Brotli variants beside each file.

    Built at boot, once per content: it takes milliseconds, needs no build step,
    and what is served always matches the source.
    """
    files = {
        path.relative_to(source).as_posix(): path.read_bytes()
        for path in sorted(source.rglob("*"))
        if path.is_file()
    }
    names = {name: hashed_name(name, content) for name, content in files.items()}
    build_id = hashlib.sha256(repr(sorted(names.items())).encode()).hexdigest()[:12]
    build = Path(tempfile.gettempdir()) / f"whatismyip-static-{build_id}"
    if not build.is_dir():
        staging = Path(tempfile.mkdtemp(prefix="whatismyip-static-"))
        compressor = Compressor(quiet=True)
        for name, content in files.items():
            for output in (staging / name, staging / names[name]):
                output.parent.mkdir(parents=True, exist_ok=True)
                output.write_bytes(content)
                if compressor.should_compress(output.name):
                    compressor.compress(str(output))
        try:
            staging.rename(build)
        except OSError:  # another worker built the same files first
            shutil.rmtree(staging)
    return build, names


def add_static_headers(headers, path, url):
    headers["X-Content-Type-Options"] = "nosniff"


def static_url(name: str) -> str:
    """The URL of a static file, content-hashed so that caches may keep it forever."""
    return current_app.extensions["static_urls"].get(name, f"/static/{name}")


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
    app.wsgi_app = WhiteNoise(
        app.wsgi_app,
        root=root,
        prefix="static/",
        autorefresh=autorefresh,
        immutable_file_test=HASHED_NAME,
        add_headers_function=add_static_headers,
    )
