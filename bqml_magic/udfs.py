"""The Python functions DuckDB calls: object bytes, lazy md5, and the ML.* fallbacks.

Registered once per database (cursors share them). All are Arrow-vectorised and fan their
rows out over the engine's thread pool.
"""
from __future__ import annotations

import base64
import hashlib
import inspect
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import duckdb
import pyarrow as pa

from bqml_magic.errors import ErrorTrap
from bqml_magic.functions import REGISTRY, MLFunction
from bqml_magic.functions.base import DUCKDB_TYPES, RESULT_TYPES, column_values, result_array
from bqml_magic.images.image import FLOAT_IMAGE_TYPE

Reader = Callable[[str], bytes]


class Md5Cache:
    """base64(MD5) per (uri, generation): an object version's digest never changes."""

    def __init__(self) -> None:
        self._digests: dict[tuple[str, int], str] = {}

    def digest(self, read: Reader, uri: str, generation: int) -> str:
        key = (uri, generation)
        if key not in self._digests:
            self._digests[key] = base64.b64encode(hashlib.md5(read(uri)).digest()).decode("ascii")
        return self._digests[key]


def register(con: duckdb.DuckDBPyConnection, read: Reader, pool: ThreadPoolExecutor, md5: Md5Cache,
             trap: ErrorTrap) -> None:
    """Make ``bqml_read``, ``bqml_md5`` and every ``bqml_<ml function>`` callable on ``con``.

    Their exceptions are recorded in ``trap``, so the engine raises them as themselves.
    """

    def read_column(uris: pa.Array) -> pa.Array:
        values = uris.to_pylist()
        return pa.array(list(pool.map(lambda u: None if u is None else read(u), values)), pa.binary())

    def md5_column(uris: pa.Array, generations: pa.Array) -> pa.Array:
        pairs = list(zip(uris.to_pylist(), generations.to_pylist()))
        return pa.array(list(pool.map(lambda p: None if p[0] is None else md5.digest(read, *p), pairs)), pa.string())

    _create(con, trap, "bqml_read", read_column, ["VARCHAR"], "BLOB")
    _create(con, trap, "bqml_md5", md5_column, ["VARCHAR", "BIGINT"], "VARCHAR")
    for function in REGISTRY.values():
        _register_ml(con, trap, function, pool)


def _register_ml(con: duckdb.DuckDBPyConnection, trap: ErrorTrap, function: MLFunction, pool: ThreadPoolExecutor) -> None:
    # DuckDB UDFs have one signature: images arrive as FLOAT64 (INT64 ones are cast by DuckDB).
    arrow_result = RESULT_TYPES.get(function.result, FLOAT_IMAGE_TYPE)

    def udf(*columns: pa.Array) -> pa.Array:
        rows = list(zip(*(column_values(c, k) for c, k in zip(columns, function.arg_kinds))))
        return result_array(list(pool.map(function.call, rows)), arrow_result)

    result_type = _duckdb_type(arrow_result)
    params = [DUCKDB_TYPES[k] for k in function.arg_kinds]
    _create(con, trap, function.udf_name, udf, params, result_type)
    if function.required is not None and function.required < len(params):
        # DuckDB has no optional UDF arguments: register the short form under its own name.
        _create(con, trap, f"{function.udf_name}_{function.required}", udf, params[: function.required], result_type)


def _create(con: duckdb.DuckDBPyConnection, trap: ErrorTrap, name: str, fn: Callable[..., pa.Array],
            params: list[str], result_type: str) -> None:
    """Register an Arrow UDF whose exceptions ``trap`` keeps, with exactly ``len(params)`` parameters
    (DuckDB counts them from the signature, and ours are variadic)."""

    def udf(*args: Any) -> Any:
        try:
            return fn(*args)
        except BaseException as exc:
            trap.record(exc)
            raise

    udf.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(f"arg{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(params))]
    )
    con.create_function(name, udf, params, result_type, type="arrow", side_effects=False)


def _duckdb_type(arrow_type: pa.DataType) -> str:
    if arrow_type == pa.float64():
        return "DOUBLE"
    return DUCKDB_TYPES["image"] if arrow_type == FLOAT_IMAGE_TYPE else DUCKDB_TYPES["image"].replace("DOUBLE", "BIGINT")
