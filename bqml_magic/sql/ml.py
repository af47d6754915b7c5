"""Recognising ``ML.NAME(...)`` calls in sqlglot's tree (it parses them as ``ML`` dot an anonymous call)."""

from __future__ import annotations

from sqlglot import exp

from bqml_magic.errors import SQLError
from bqml_magic.functions import REGISTRY, MLFunction
from bqml_magic.sql.names import at

TABLE_FUNCTIONS = ("ML.PREDICT",)
"""The ML.* functions read in FROM (sqlglot parses them into their own nodes); ``REGISTRY`` holds the scalar ones."""
READ_UDF = "bqml_read"
"""The DuckDB function behind the ``data`` pseudocolumn: an object's bytes by its reference."""
OBJECT_REF_FIELDS = ("uri", "generation", "size")
"""What ``bqml_read`` is given of an object table's row: the object, its version (the content
cache's key) and its size (what reading it ahead will hold)."""
OBJECT_REF_TYPE = "STRUCT(uri VARCHAR, generation BIGINT, size BIGINT)"
UDF_PREFIX = "bqml_"
"""Every DuckDB function of ours: the data pseudocolumn, md5 and the ML.* UDFs."""
FILE_SUFFIX = "_file"
"""``bqml_decode_image_file(uri)``: the UDF form that reads its bytes argument from a uri."""


def ml_function(node: exp.Expression) -> MLFunction | None:
    """The registered function when ``node`` is ``ML.NAME(...)``; SQLError for unknown ML names."""
    if not (
        isinstance(node, exp.Dot)
        and isinstance(node.this, exp.Identifier)
        and node.this.name.upper() == "ML"
        and isinstance(node.expression, exp.Anonymous)
    ):
        return None
    name = "ML." + node.expression.name.upper()
    function = REGISTRY.get(name)
    if function is None:
        known = ", ".join([*sorted(REGISTRY), *TABLE_FUNCTIONS])
        raise SQLError(f"Function not found: {name}; supported here: {known}", **at(node))
    try:
        function.check_arity(len(node.expression.expressions))
    except SQLError as exc:
        raise exc.add_context(**at(node)) from None
    return function


def ml_arguments(node: exp.Dot) -> list[exp.Expression]:
    return list(node.expression.expressions)


def file_read(table_alias: str) -> exp.Anonymous:
    """``bqml_read({uri, generation, size})`` of an object table's row: what ``data`` becomes."""
    alias = exp.to_identifier(table_alias)
    fields = [
        exp.PropertyEQ(this=exp.to_identifier(name), expression=exp.column(name, table=alias))
        for name in OBJECT_REF_FIELDS
    ]
    return exp.Anonymous(this=READ_UDF, expressions=[exp.Struct(expressions=fields)])


def is_file_read(node: exp.Expression) -> bool:
    """``bqml_read(uri)``: what the ``data`` pseudocolumn became."""
    return isinstance(node, exp.Anonymous) and node.name == READ_UDF
