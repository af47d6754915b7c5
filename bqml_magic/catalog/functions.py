"""Where user-defined functions live: persistent ones in the catalog, temporary ones for a script.

A persistent function is a DuckDB macro in its dataset's schema (``sql/udf.py``), so it persists
with the catalog file, other processes see it, and ``DROP SCHEMA ... CASCADE`` drops it with the
tables; DuckDB's own ``duckdb_functions()`` is the list, no bookkeeping of ours. A macro calling
our Python functions (``bqml_decode_image`` ...) binds again once the engine registers them on a
reopened database. Temporary functions are macros in an in-memory database attached beside the
catalog, which the engine's cursors share and the workspace file never holds; a script's are
dropped when it ends, as BigQuery's last for their script [doc].
"""

from __future__ import annotations

import contextlib

import duckdb

from bqml_magic.catalog.db import run
from bqml_magic.sql.bigquery_words import bigquery_type
from bqml_magic.sql.names import Name, quoted
from bqml_magic.sql.udf import ANY_TYPE, TEMP_DATABASE, Routine

_MACROS = (
    "SELECT schema_name, function_name, parameter_types FROM duckdb_functions() "
    "WHERE function_type = 'macro' AND NOT internal AND database_name = current_database()"
)


class PersistentFunctions:
    """The catalog's functions, listed once per open connection and again after a change of ours.

    ``duckdb_functions()`` takes ~30 ms (it lists DuckDB's 3,000 built-ins too), too slow to ask
    at each call. While a connection is open this engine holds the workspace, so only its own
    CREATE / DROP FUNCTION and DROP SCHEMA change the list, and they call ``forget``; another
    process's changes come with the next connection.
    """

    def __init__(self) -> None:
        self._con: duckdb.DuckDBPyConnection | None = None
        self._routines: dict[tuple[str, str], Routine] = {}

    def names(self, con: duckdb.DuckDBPyConnection, dataset: str) -> list[str]:
        return sorted(r.path[-1] for key, r in self._listed(con).items() if key[0] == dataset.lower())

    def find(self, con: duckdb.DuckDBPyConnection, name: Name) -> Routine | None:
        """A function by name (case-insensitive), its parameters' types as BigQuery's."""
        return self._listed(con).get(name.key)

    def forget(self) -> None:
        self._con = None

    def _listed(self, con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], Routine]:
        if con is not self._con:
            self._routines = {
                Name(dataset, function).key: Routine(
                    f"{dataset}.{function}",
                    (dataset, function),
                    tuple(ANY_TYPE if t is None else bigquery_type(t) for t in types),
                    temporary=False,
                )
                for dataset, function, types in run(con, _MACROS)
            }
            self._con = con
        return self._routines


class TemporaryFunctions:
    """One script's temporary functions, by lower-cased name: created in ``TEMP_DATABASE``, dropped
    together when the script ends."""

    def __init__(self) -> None:
        self._routines: dict[str, Routine] = {}

    def get(self, name: str) -> Routine | None:
        return self._routines.get(name.lower())

    @staticmethod
    def path(name: str) -> tuple[str, ...]:
        return TEMP_DATABASE, "main", name.lower()

    @staticmethod
    def attach(con: duckdb.DuckDBPyConnection) -> None:
        """The in-memory database for them, on a connection that may be new since the last script."""
        run(con, f"ATTACH IF NOT EXISTS ':memory:' AS {quoted(TEMP_DATABASE)}")

    def add(self, routine: Routine) -> None:
        self._routines[routine.name.lower()] = routine

    def drop(self, con: duckdb.DuckDBPyConnection, name: str) -> None:
        routine = self._routines.pop(name.lower())
        run(con, f"DROP MACRO IF EXISTS {quoted(*routine.path)}")

    def drop_all(self, con: duckdb.DuckDBPyConnection) -> None:
        """At the script's end, whatever happened: a macro left behind is unreachable anyway (calls
        resolve through this object) and is replaced by the next one of its name."""
        for name in list(self._routines):
            with contextlib.suppress(duckdb.Error):
                self.drop(con, name)
