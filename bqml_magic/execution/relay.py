"""Exceptions raised in Python code that DuckDB calls back into, carried across DuckDB intact.

DuckDB keeps only the text of an exception raised in a UDF or a registered Arrow stream
("Python exception occurred while executing the UDF: ..."). The relay holds each such
exception under a ticket and lets DuckDB carry only the ticket, inside its own error's text;
whoever catches DuckDB's error asks the relay for the exception behind it, class, fields and
cause intact. The failure travels with the error that reports it: nothing is matched by time,
nothing is left behind for a later statement to trip on.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")
_TICKET = re.compile(r"bqml-relay#(\d+)")
_KEEP = 256  # tickets whose DuckDB error was never raised (an error swallowed by DuckDB) are forgotten


class Relayed(Exception):
    """What DuckDB sees instead of the real exception: only its ticket."""


class FailureRelay:
    """One per engine: tickets out as exceptions are raised, exceptions back as errors are caught."""

    def __init__(self) -> None:
        self._held: OrderedDict[int, BaseException] = OrderedDict()
        self._tickets = itertools.count(1)
        self._lock = threading.Lock()

    def send(self, exc: BaseException) -> Relayed:
        """The exception to raise towards DuckDB in place of ``exc``."""
        with self._lock:
            ticket = next(self._tickets)
            self._held[ticket] = exc
            while len(self._held) > _KEEP:
                self._held.popitem(last=False)
        return Relayed(f"bqml-relay#{ticket}")

    def receive(self, error: BaseException) -> BaseException | None:
        """The exception behind a DuckDB error, if one of ours caused it."""
        found = _TICKET.search(str(error))
        if found is None:
            return None
        with self._lock:
            return self._held.pop(int(found[1]), None)

    def wrap(self, function: Callable[..., T]) -> Callable[..., T]:
        """``function`` as DuckDB should call it: its exceptions go through the relay."""

        def relayed(*args: object) -> T:
            try:
                return function(*args)
            except BaseException as exc:  # a Ctrl-C too: DuckDB would report its own interruption
                raise self.send(exc) from None

        return relayed

    def guard(self, items: Iterator[T]) -> Iterator[T]:
        """An iterator DuckDB pulls from (a registered stream), its exceptions relayed.

        Closing it unfinished (a LIMIT stopped DuckDB pulling) is not an error.
        """
        try:
            yield from items
        except GeneratorExit:
            raise
        except BaseException as exc:
            raise self.send(exc) from None
