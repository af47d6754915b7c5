"""The Python functions DuckDB calls: object bytes, lazy md5, and the ML.* functions where
they are not lifted into the streamed path.

Registered once per database (cursors share them). All are Arrow-vectorised and fan their
rows out over the engine's thread pool; their exceptions cross DuckDB through the relay.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pyarrow as pa

from bqml_magic.execution.services import Services
from bqml_magic.functions import REGISTRY, MLFunction
from bqml_magic.functions.base import DUCKDB_TYPES, RESULT_TYPES, column_values, result_array
from bqml_magic.images.image import FLOAT_IMAGE_TYPE
from bqml_magic.sql.ml import READ_UDF

MD5_UDF = "bqml_md5"


def register(services: Services) -> None:
    """Make ``bqml_read``, ``bqml_md5`` and every ``bqml_<ml function>`` callable on the engine's database."""
    pool, objects = services.pool, services.objects

    def read_column(uris: pa.Array) -> pa.Array:
        values = uris.to_pylist()
        return pa.array(list(pool.map(lambda u: None if u is None else objects.read(u), values)), pa.binary())

    def md5_column(uris: pa.Array, generations: pa.Array) -> pa.Array:
        pairs = list(zip(uris.to_pylist(), generations.to_pylist()))
        digests = pool.map(lambda p: None if p[0] is None else objects.md5(*p), pairs)
        return pa.array(list(digests), pa.string())

    _create(services, READ_UDF, read_column, ["VARCHAR"], "BLOB")
    _create(services, MD5_UDF, md5_column, ["VARCHAR", "BIGINT"], "VARCHAR")
    for function in REGISTRY.values():
        _register_ml(services, function)


def _register_ml(services: Services, function: MLFunction) -> None:
    # DuckDB UDFs have one signature: images arrive as FLOAT64 (INT64 ones are cast by DuckDB).
    arrow_result = RESULT_TYPES.get(function.result, FLOAT_IMAGE_TYPE)

    def udf(*columns: pa.Array) -> pa.Array:
        rows = list(zip(*(column_values(c, k) for c, k in zip(columns, function.arg_kinds))))
        return result_array(list(services.pool.map(function.call, rows)), arrow_result)

    result_type = _duckdb_type(arrow_result)
    params = [DUCKDB_TYPES[k] for k in function.arg_kinds]
    _create(services, function.udf_name, udf, params, result_type)
    if function.required is not None and function.required < len(params):
        # DuckDB has no optional UDF arguments: register the short form under its own name.
        _create(services, f"{function.udf_name}_{function.required}", udf, params[: function.required], result_type)


def _create(services: Services, name: str, fn: Callable[..., pa.Array], params: list[str], result_type: str) -> None:
    """Register an Arrow UDF whose exceptions go through the relay, with exactly ``len(params)``
    parameters (DuckDB counts them from the signature, and ours are variadic)."""
    udf = services.relay.wrap(fn)
    udf.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(f"arg{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(params))]
    )
    services.con.create_function(name, udf, params, result_type, type="arrow", side_effects=False)  # type: ignore[call-overload]


def _duckdb_type(arrow_type: pa.DataType) -> str:
    if arrow_type == pa.float64():
        return "DOUBLE"
    image = DUCKDB_TYPES["image"]
    return image if arrow_type == FLOAT_IMAGE_TYPE else image.replace("DOUBLE", "BIGINT")
