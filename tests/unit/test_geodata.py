"""`make geodata`'s choice of month."""

import datetime

from whatismyip.geodata import months


def test_months_to_try():
    assert months(datetime.date(2026, 1, 3)) == ["2026-01", "2025-12"]
    assert months(datetime.date(2026, 3, 31)) == ["2026-03", "2026-02"]
