"""``newswatch demo``: the service at work in half a minute, offline, on a bundled local news site.

``site`` serves the news (ITHome-shaped pages and an English feed), ``script`` reads what to publish
from ``news.toml``, ``observe`` reads the outcome from the store, ``runner`` plays it all.
"""
