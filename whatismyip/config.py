"""Settings from the environment (twelve-factor): every variable the README lists."""

from .addresses import trusted_proxy_hops


def settings_from_environment(environ) -> dict:
    return {
        "TRUSTED_PROXY_HOPS": trusted_proxy_hops(environ),
        # `make run` sets it so that edits to static/ show on reload.
        "STATIC_AUTOREFRESH": bool(environ.get("STATIC_AUTOREFRESH")),
    }
