"""The app's JSON, written by orjson: byte for byte what the json module writes."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from whatismyip import create_app

JSON_APP = create_app({"LOOKUPS": frozenset(), "RATE_LIMIT": None})
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, database=None)
@given(value=JSON_VALUES)
def test_json_answers_are_byte_for_byte_the_json_modules(value):
    """orjson writes the answers; they must be what json.dumps would have been."""
    provider = JSON_APP.json
    assert provider.dumps(value) == json.dumps(
        value, ensure_ascii=False, separators=(",", ":")
    )
    assert provider.dumps(value, indent=2) == json.dumps(
        value, ensure_ascii=False, indent=2
    )
