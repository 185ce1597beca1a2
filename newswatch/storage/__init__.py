"""The store: SQLAlchemy Core over SQLite (default, WAL) or PostgreSQL, chosen by URL alone.

One module per table family; the scrapers write articles and stories, the bot reads stories and
owns subscribers and the outbox.
"""

from .db import connect

__all__ = ["connect"]
