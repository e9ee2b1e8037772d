"""One binary COPY FROM STDIN kept open across Arrow batches: the signature, the tuples that
``lib/vector/pgcopy.encode_rows`` packs, and the trailer, through a bounded writer queue."""

from __future__ import annotations

from queue import Queue
from typing import Any, cast

import psycopg
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from geo_platform.lib.errors import DecodingError
from geo_platform.lib.vector.pgcopy import SIGNATURE, TRAILER

TEXT_ERRORS = (psycopg.errors.CharacterNotInRepertoire, psycopg.errors.UntranslatableCharacter)


class _BoundedQueuedWriter(QueuedLibpqWriter):
    """psycopg's threaded COPY writer with a short queue, so memory stays bounded."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        super().__init__(cursor)
        self._queue = cast(Any, Queue(maxsize=8))


class CopyStream:
    """One binary COPY FROM STDIN kept open across batches (signature/trailer included)."""

    def __init__(self, conn: psycopg.Connection[Any], stmt: sql.Composed, name: str) -> None:
        self.name = name
        cursor = conn.cursor()
        self._cm = cursor.copy(stmt, writer=_BoundedQueuedWriter(cursor))
        self._copy = self._cm.__enter__()
        self._copy.write(SIGNATURE)

    def write(self, payload: Any) -> None:
        self._copy.write(payload)

    def close(self, exc: BaseException | None = None) -> None:
        try:
            if exc is None:
                self._copy.write(TRAILER)
                self._cm.__exit__(None, None, None)
            else:
                self._cm.__exit__(type(exc), exc, exc.__traceback__)
        except TEXT_ERRORS as err:
            raise DecodingError(f"text PostgreSQL cannot store: {err}", path=self.name) from err
