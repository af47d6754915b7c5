"""The Python functions DuckDB calls: object bytes, lazy md5, and the ML.* functions where
they are not lifted into the streamed path.

Registered on each connection the engine opens (its cursors share them). All are Arrow-vectorised and fan their
rows out over the engine's thread pool; their exceptions cross DuckDB through the relay.
Functions that take bytes also come in a ``_file`` form taking the object's reference: the
file is read in the worker (DuckDB never holds a chunk of files), the objects of a chunk are
fetched ahead together, and errors name the object. Each
call's results are held to a share of the memory budget: a chunk of huge images is an error,
not an out-of-memory kill.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa

from bqml_magic.catalog import information_schema
from bqml_magic.errors import LimitError
from bqml_magic.execution.fanout import fan_out
from bqml_magic.execution.services import Services
from bqml_magic.functions import REGISTRY, MLFunction
from bqml_magic.functions.base import DUCKDB_TYPES, RESULT_TYPES, column_values, result_array
from bqml_magic.images.image import FLOAT_IMAGE_TYPE, Image
from bqml_magic.sql.ml import FILE_SUFFIX, OBJECT_REF_TYPE, READ_UDF
from bqml_magic.storage.objects import ObjectRef, object_ref

MD5_UDF = "bqml_md5"
CHUNK_SHARE = 2
"""One UDF call may hold half the image budget in results: DuckDB runs one per thread, and
streamed object tables give it a few rows a call, so only a chunk DuckDB itself grew can pass it."""


def register(services: Services, con: duckdb.DuckDBPyConnection) -> None:
    """Make ``bqml_read``, ``bqml_md5``, every ``bqml_<ml function>`` and the INFORMATION_SCHEMA views
    callable on a new connection of the engine's database."""
    objects = services.objects

    def read_column(refs: pa.Array) -> pa.Array:
        wanted = [object_ref(r) for r in refs.to_pylist()]
        objects.prefetch(wanted)
        read = fan_out(services.work, lambda r: None if r is None else objects.read(r), wanted)
        return pa.array(list(read), pa.binary())

    def md5_column(uris: pa.Array, generations: pa.Array) -> pa.Array:
        pairs = list(zip(uris.to_pylist(), generations.to_pylist()))
        digests = fan_out(services.work, lambda p: None if p[0] is None else objects.md5(*p), pairs)
        return pa.array(list(digests), pa.string())

    _create(services, con, READ_UDF, read_column, [OBJECT_REF_TYPE], "BLOB")
    _create(services, con, MD5_UDF, md5_column, ["VARCHAR", "BIGINT"], "VARCHAR")
    _create(services, con, information_schema.TYPE_UDF, information_schema.bigquery_types, ["VARCHAR"], "VARCHAR")
    information_schema.install_if_stored(con)
    for function in REGISTRY.values():
        _register_ml(services, con, function)


def _register_ml(services: Services, con: duckdb.DuckDBPyConnection, function: MLFunction) -> None:
    # DuckDB UDFs have one signature: images arrive as FLOAT64 (INT64 ones are cast by DuckDB).
    arrow_result = RESULT_TYPES.get(function.result, FLOAT_IMAGE_TYPE)
    result_type = _duckdb_type(arrow_result)
    params = [DUCKDB_TYPES[k] for k in function.arg_kinds]
    files = [i for i, kind in enumerate(function.arg_kinds) if kind == "bytes"]
    pixels = services.work.pixels
    cap = pixels.capacity // CHUNK_SHARE

    def evaluate(rows: list[tuple[Any, ...]], refs: list[ObjectRef | None]) -> pa.Array:
        def one(i: int) -> Any:
            args, ref = rows[i], refs[i]
            if ref is not None:
                args = tuple(services.objects.read(ref) if k in files else a for k, a in enumerate(args))
            return function.call(args, ref.uri if ref is not None else None, pixels)

        results, held = [], 0
        for value in fan_out(services.work, one, range(len(rows))):
            held += value.pixels.size * 8 if isinstance(value, Image) else 0
            if held > cap:
                raise LimitError(
                    f"{len(rows)} rows of {function.name} evaluated together in SQL hold over "
                    f"{cap / 2**20:,.0f} MB of image values, half the image budget: raise Engine(memory_budget=...) "
                    "or context.memory_budget, or compute the images in the SELECT list (streamed in small batches)",
                    function=function.name,
                )
            results.append(value)
        return result_array(results, arrow_result)

    def udf(*columns: pa.Array) -> pa.Array:
        rows = list(zip(*(column_values(c, k) for c, k in zip(columns, function.arg_kinds))))
        return evaluate(rows, [None] * len(rows))

    def udf_over_files(*columns: pa.Array) -> pa.Array:
        """The same, its bytes argument given as the object's reference: read in the worker, errors name it."""
        kinds = ["ref" if k == "bytes" else k for k in function.arg_kinds]
        rows = list(zip(*(column_values(c, k) for c, k in zip(columns, kinds))))
        refs = [object_ref(row[files[0]]) for row in rows]
        services.objects.prefetch(refs)
        return evaluate(rows, refs)

    file_params = [OBJECT_REF_TYPE if k == "bytes" else p for k, p in zip(function.arg_kinds, params)]
    for suffix, fn, types in (("", udf, params), (FILE_SUFFIX, udf_over_files, file_params)):
        if suffix and not files:
            continue
        _create(services, con, function.udf_name + suffix, fn, types, result_type)
        if function.required is not None and function.required < len(types):
            # DuckDB has no optional UDF arguments: register the short form under its own name.
            short = f"{function.udf_name}{suffix}_{function.required}"
            _create(services, con, short, fn, types[: function.required], result_type)


def _create(
    services: Services,
    con: duckdb.DuckDBPyConnection,
    name: str,
    fn: Callable[..., pa.Array],
    params: list[str],
    result_type: str,
) -> None:
    """Register an Arrow UDF whose exceptions go through the relay, with exactly ``len(params)``
    parameters (DuckDB counts them from the signature, and ours are variadic)."""
    udf = services.relay.wrap(fn)
    udf.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(f"arg{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(len(params))]
    )
    con.create_function(name, udf, params, result_type, type="arrow", side_effects=False)  # type: ignore[call-overload]


def _duckdb_type(arrow_type: pa.DataType) -> str:
    if arrow_type == pa.float64():
        return "DOUBLE"
    image = DUCKDB_TYPES["image"]
    return image if arrow_type == FLOAT_IMAGE_TYPE else image.replace("DOUBLE", "BIGINT")
