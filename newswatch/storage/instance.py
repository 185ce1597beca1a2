"""One running service per store.

Two services on one store would both poll and both send the same pending alerts. The first takes a
lease in the ``meta`` table and renews it; a second one is refused while the lease is fresh. A lease
left by a process that died on this host is taken over at once (its PID is gone), so a restart after
``kill -9`` does not wait; one left on another host expires after ``ttl`` seconds.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from .schema import meta, utcnow

KEY = "service_lease"
TTL = timedelta(seconds=30)


@dataclass(frozen=True)
class Holder:
    instance: str
    host: str
    pid: int
    renewed: datetime

    def describe(self, now: datetime) -> str:
        return f"pid {self.pid} on {self.host}, alive {(now - self.renewed).total_seconds():.0f} s ago"


class InstanceLease:
    def __init__(self, engine: Engine, ttl: timedelta = TTL):
        self.engine = engine
        self.ttl = ttl
        self.me = Holder(uuid.uuid4().hex, socket.gethostname(), os.getpid(), utcnow())

    def acquire(self) -> Holder | None:
        """Take the lease; returns the other holder when it is taken, None on success."""
        now = utcnow()
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(select(meta.c.key).where(meta.c.key == KEY).with_for_update())
            holder = _read(conn.execute(select(meta.c.value).where(meta.c.key == KEY)).scalar())
            if holder is not None and holder.instance != self.me.instance and not self._stale(holder, now):
                return holder
            self._write(conn, now, exists=holder is not None)
        return None

    def renew(self) -> bool:
        """Keep the lease; False when another instance has taken it (we were stalled past the ttl)."""
        now = utcnow()
        with self.engine.begin() as conn:
            holder = _read(conn.execute(select(meta.c.value).where(meta.c.key == KEY)).scalar())
            if holder is not None and holder.instance != self.me.instance:
                return False
            self._write(conn, now, exists=holder is not None)
        return True

    def release(self) -> None:
        with self.engine.begin() as conn:
            holder = _read(conn.execute(select(meta.c.value).where(meta.c.key == KEY)).scalar())
            if holder is not None and holder.instance == self.me.instance:
                conn.execute(meta.delete().where(meta.c.key == KEY))

    def _stale(self, holder: Holder, now: datetime) -> bool:
        if now - holder.renewed > self.ttl:
            return True
        return holder.host == self.me.host and not _alive(holder.pid)

    def _write(self, conn, now: datetime, exists: bool) -> None:
        value = json.dumps(
            {
                "instance": self.me.instance,
                "host": self.me.host,
                "pid": self.me.pid,
                "renewed": now.isoformat(),
            }
        )
        if exists:
            conn.execute(meta.update().where(meta.c.key == KEY).values(value=value))
        else:
            conn.execute(meta.insert().values(key=KEY, value=value))


def _read(value: str | None) -> Holder | None:
    if not value:
        return None
    data = json.loads(value)
    return Holder(data["instance"], data["host"], int(data["pid"]), datetime.fromisoformat(data["renewed"]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
