"""The OpenAPI document (static/openapi.json), read once: served at
/api/openapi.json and rendered at /docs."""

import json
from pathlib import Path
from typing import Any

OPENAPI: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "static" / "openapi.json").read_text()
)
