"""Settings from the environment (twelve-factor): every variable the README lists.
A value that cannot be right stops the boot with a message saying so."""

from limits import parse_many


class SettingError(ValueError):
    """A setting from the environment that the operator must correct."""


def trusted_proxy_hops(environ) -> int:
    """How many proxies in front of us append to X-Forwarded-For and are trusted.

    Heroku's router is one (every dyno has DYNO set); with no proxy, none.
    """
    configured = environ.get("TRUSTED_PROXY_HOPS", "").strip()
    if not configured:
        return 1 if environ.get("DYNO") else 0
    if not configured.isdigit():
        raise SettingError(
            f"TRUSTED_PROXY_HOPS must be a whole number of proxies, not {configured!r}"
        )
    return int(configured)


def parse_rate_limit(text: str) -> str:
    """RATE_LIMIT: "60/minute", or several joined by ";"; empty for none."""
    text = text.strip()
    if not text:
        return ""
    try:
        parse_many(text)
    except ValueError:
        raise SettingError(
            f"RATE_LIMIT must look like 60/minute or 10/second;1000/day, not {text!r}"
        ) from None
    return text


def settings_from_environment(environ) -> dict:
    return {
        "TRUSTED_PROXY_HOPS": trusted_proxy_hops(environ),
        # `make run` sets it so that edits to static/ show on reload.
        "STATIC_AUTOREFRESH": bool(environ.get("STATIC_AUTOREFRESH")),
        # Unset or empty: no limit.
        "RATE_LIMIT": parse_rate_limit(environ.get("RATE_LIMIT", "")) or None,
        # Heroku Key-Value Store sets it; unset, each worker counts alone.
        "REDIS_URL": environ.get("REDIS_URL", "").strip() or None,
    }
