"""What was last read of each host (its pools, its networks), kept while the app runs: a view
of a host that stops answering shows these, greyed and dated, as the machines table keeps a
down host's machines."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Generic, TypeVar

Row = TypeVar("Row")


class LastKnown(Generic[Row]):
    def __init__(self) -> None:
        self._by_host: dict[str, tuple[list[Row], datetime]] = {}

    def keep(self, uri: str, rows: list[Row]) -> list[Row]:
        """``rows``: a whole reading of the host, now; returned as they are."""
        self._by_host[uri] = (list(rows), datetime.now(timezone.utc))
        return rows

    def of(self, uri: str) -> tuple[list[Row], datetime] | None:
        """The host's last whole reading and when (UTC), or None when it was never read."""
        return self._by_host.get(uri)

    def forget(self, uri: str) -> None:
        self._by_host.pop(uri, None)
