"""The errors a user sees.

Users write SQL, not Python: a failing statement should read like BigQuery's message (what
is wrong, and where: line and column, the object's name, the file's uri), not like a
traceback through DuckDB or numpy. Foreign exceptions are converted once, at the boundary,
with ``raise BQMLError(...) from exc`` so ``--verbose`` can still show the cause.

Where is kept in fields, not baked into the text: the layer that knows the position, the
function or the object adds it with :meth:`BQMLError.add_context` as the error passes, and
the message is derived from the fields. Each class also inherits the builtin it refines, so
``except ValueError`` keeps working.
"""

from __future__ import annotations

from typing import TypeVar

E = TypeVar("E", bound="BQMLError")


class BQMLError(Exception):
    """Root of every error bqml_magic raises on purpose.

    ``line`` / ``column``: 1-based place in the user's SQL; ``uri``: the object being
    processed; ``function``: the ``ML.*`` function that failed; ``statement``: a short
    description of the statement (``CREATE MODEL d.m (model_path '...')``).
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        uri: str | None = None,
        function: str | None = None,
        statement: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.uri = uri
        self.function = function
        self.statement = statement

    def add_context(
        self: E,
        *,
        line: int | None = None,
        column: int | None = None,
        uri: str | None = None,
        function: str | None = None,
        statement: str | None = None,
    ) -> E:
        """Fill in what is not known yet (the innermost layer knows best); returns the error."""
        if self.line is None and line is not None:
            self.line, self.column = line, column
        self.uri = self.uri or uri
        self.function = self.function or function
        self.statement = self.statement or statement
        return self

    def __str__(self) -> str:
        text = f"{self.statement}: {self.message}" if self.statement else self.message
        if self.function:
            text += f"; error in {self.function} expression"
        if self.uri:
            text += f" (uri: {self.uri})"
        if self.line is not None:
            text += f" [at {self.line}:{self.column}]"
        return text


class SQLError(BQMLError, ValueError):
    """The SQL text does not parse or does not make sense (syntax, types, arguments)."""


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


class CatalogError(BQMLError, RuntimeError):
    """A workspace's catalog that this version cannot open (written by a newer bqml_magic)."""


class Cancelled(BQMLError, KeyboardInterrupt):
    """The query was interrupted (Ctrl-C / kernel interrupt); the engine is ready for the next one."""


_notebook_magic = False


def speak_notebook() -> None:
    """Called by ``%load_ext bqml_magic``: from then on a way out is a ``%bqml`` line, not Python."""
    global _notebook_magic
    _notebook_magic = True


def advice(python: str, notebook: str) -> str:
    """The way out of an error in the user's own terms: the magic's command in a notebook that
    loaded it (``%bqml mount b=/folder``), the Python call elsewhere (``Engine.mount(...)``)."""
    return notebook if _notebook_magic else python
