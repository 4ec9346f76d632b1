"""Location records read into the fields, whatever the database holds."""

from support.city_database import LOCATED
from whatismyip.sources.location import location_facts

# The Python running the tests, as `python` for bin/post_compile.


def test_a_record_without_coordinates_has_no_time_zone():
    assert location_facts({"location": {"latitude": 1.5}})["time_zone"] is None
    assert location_facts(None) == dict.fromkeys(LOCATED[:6])
