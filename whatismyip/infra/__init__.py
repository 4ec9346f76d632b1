"""Infrastructure the sources and the web layer share, knowing nothing of
either: the worker's Redis connection, bounded outbound HTTP, and lists
refreshed while the site runs."""
