"""The web layer: blueprints for the API (api.py) and the pages and text
answers (pages.py), which never import each other, and what they share:
reading the request (visitor, negotiation), the facts asked for it (facts),
errors, templating, routing, ETags, headers, limits and static files."""
