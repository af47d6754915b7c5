"""The errors a user sees.

Users write SQL, not Python: a failing statement should read like BigQuery's message (what
is wrong, and where: line and column, the object's name, the file's uri), not like a
traceback through DuckDB or numpy. Foreign exceptions are converted once, at the boundary,
with ``raise BQMLError(...) from exc`` so ``--verbose`` can still show the cause.
Each class also inherits the builtin it refines, so ``except ValueError`` keeps working.
"""
from __future__ import annotations

from typing import Iterator, TypeVar

T = TypeVar("T")


class BQMLError(Exception):
    """Root of every error bqml_magic raises on purpose."""


class SQLError(BQMLError, ValueError):
    """The SQL text does not parse or does not make sense (syntax, types, arguments)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        where = f" [at {line}:{column}]" if line is not None and column is not None else ""
        super().__init__(f"{message}{where}")
        self.line = line
        self.column = column


class NotFoundError(BQMLError, LookupError):
    """A dataset, table, model, column or file that the statement names does not exist."""


class AlreadyExistsError(BQMLError, ValueError):
    """CREATE without OR REPLACE / IF NOT EXISTS on a name that is taken."""


class StorageError(BQMLError, OSError):
    """A URI that does not resolve, escapes its bucket, or a file that cannot be read."""


class ImageError(BQMLError, ValueError):
    """Image bytes or an image value that an ML image function cannot process."""


class ModelError(BQMLError, ValueError):
    """An imported model that cannot be loaded, or whose inputs do not fit the query."""


class LimitError(BQMLError, ValueError):
    """A documented BigQuery limit was exceeded (file, model or image size)."""


class Cancelled(BQMLError, KeyboardInterrupt):
    """The query was interrupted (Ctrl-C / kernel interrupt); the engine is ready for the next one."""


class ErrorTrap:
    """Remembers the first exception raised in Python code that DuckDB calls back into.

    DuckDB wraps such an exception in its own ("Python exception occurred while executing the
    UDF: ..."); the engine raises the remembered one instead, with its class and message intact.
    """

    def __init__(self) -> None:
        self.error: BaseException | None = None

    def record(self, exc: BaseException) -> None:
        self.error = self.error or exc

    def take(self) -> BaseException | None:
        """The remembered exception, if any, forgotten from now on."""
        error, self.error = self.error, None
        return error

    def guard(self, items: Iterator[T]) -> Iterator[T]:
        """An iterator DuckDB pulls from (a registered stream), its exception remembered."""
        try:
            yield from items
        except GeneratorExit:  # closed unfinished (a LIMIT stopped DuckDB pulling): not an error
            raise
        except BaseException as exc:
            self.record(exc)
            raise
