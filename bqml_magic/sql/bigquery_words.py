"""Names as a BigQuery user knows them: DuckDB's types (``VARCHAR`` is STRING), our ML.*
functions' signatures, and our internal names (UDFs, placeholders) in any message we pass on."""

from __future__ import annotations

import difflib
import re

from sqlglot import exp

from bqml_magic.functions import REGISTRY, MLFunction

INTERNAL = re.compile(r"\b__bqml_\w+|\bbqml_(?!magic)\w+")
"""Our names in DuckDB: UDFs and placeholders."""
VALUE_KINDS = {
    **dict.fromkeys(("INT8", "INT16", "INT32", "INT64", "INT128", "UINT8", "UINT16", "UINT32", "UINT64"), "int64"),
    **dict.fromkeys(("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UHUGEINT"), "int64"),
    **dict.fromkeys(("DOUBLE", "FLOAT"), "double"),
    "BOOL": "bool",
    "BOOLEAN": "bool",
    "DECIMAL": "NUMERIC",
}
_TYPES = {
    **dict.fromkeys(("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UHUGEINT", "INTEGER_LITERAL"), "INT64"),
    **dict.fromkeys(("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "INT8", "INT16", "INT32", "INT64"), "INT64"),
    **dict.fromkeys(("VARCHAR", "STRING_LITERAL", "UUID", "STRING"), "STRING"),
    **dict.fromkeys(("DOUBLE", "FLOAT", "REAL"), "FLOAT64"),
    "BOOLEAN": "BOOL",
    "BLOB": "BYTES",
    "TIMESTAMP": "DATETIME",
    "TIMESTAMP WITH TIME ZONE": "TIMESTAMP",
    "TIMESTAMPTZ": "TIMESTAMP",
    "NULL": "INT64",
    '"NULL"': "INT64",  # how DuckDB lists a view's column of untyped NULLs
    "ANY": "ANY TYPE",
}
_KINDS = {
    "bytes": "BYTES",
    "image": "STRUCT<dimensions ARRAY<INT64>, values ARRAY<FLOAT64>>",
    "int": "INT64",
    "bool": "BOOL",
    "string": "STRING",
    "array": "ARRAY<FLOAT64>",
}


def bigquery_type(duck: str) -> str:
    """A DuckDB type as BigQuery names it: ``VARCHAR`` -> STRING, ``BIGINT[]`` -> ARRAY<INT64>."""
    text = duck.strip()
    if text.endswith("]") and "[" in text:
        return f"ARRAY<{bigquery_type(text[: text.rindex('[')])}>"
    struct = re.fullmatch(r"STRUCT\((?P<fields>.*)\)", text, re.DOTALL)
    if struct:
        fields = []
        for part in split_top(struct["fields"]):
            name, _, kind = part.strip().partition(" ")
            fields.append(f"{name.strip(chr(34))} {bigquery_type(kind)}")
        return f"STRUCT<{', '.join(fields)}>"
    decimal = re.fullmatch(r"DECIMAL\((?P<p>\d+),\s*(?P<s>\d+)\)", text)
    if decimal:
        return "NUMERIC" if int(decimal["p"]) <= 38 and int(decimal["s"]) <= 9 else "BIGNUMERIC"
    return _TYPES.get(text.upper(), text.upper())


def ml_signature(function: MLFunction) -> str:
    """``ML.DISTANCE(ARRAY<FLOAT64>, ARRAY<FLOAT64>[, STRING])``: optional trailing arguments bracketed."""
    required = function.required if function.required is not None else len(function.arg_kinds)
    kinds = [_KINDS.get(k, k.upper()) for k in function.arg_kinds]
    optional = "".join(f"[, {k}]" for k in kinds[required:])
    return f"{function.name}({', '.join(kinds[:required])}{optional})"


def split_top(text: str) -> list[str]:
    """Comma-separated parts, commas inside parentheses, brackets or quotes kept."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def ml_udf(name: str) -> tuple[MLFunction | None, bool]:
    """The ML.* function behind one of our UDF names (``bqml_resize_image_file_3``), and whether it
    is the form that reads its bytes from a uri."""
    if not name.lower().startswith("bqml_"):
        return None, False
    stem = re.sub(r"_\d+$", "", name.lower())
    file_form = stem.endswith("_file")
    stem = stem.removesuffix("_file")
    return next((f for f in REGISTRY.values() if f.udf_name == stem), None), file_form


def ml_hint(name: str) -> str:
    """``DECODE_IMAGE(data)`` -> "; did you mean ML.DECODE_IMAGE?": suggestions come only from ML.* names,
    never from DuckDB's catalog (whose names BigQuery does not have)."""
    short = {n.split(".", 1)[1]: n for n in [*REGISTRY, "ML.PREDICT"]}
    match = difflib.get_close_matches(name.upper().removeprefix("ML."), list(short), n=1, cutoff=0.8)
    return f"; did you mean {short[match[0]]}?" if match else ""


def public_text(text: str, statement: exp.Expr | None) -> str:
    """Our internal names (UDFs, placeholders, DuckDB's catalog prefix) as the user knows them."""

    def name(match: re.Match[str]) -> str:
        word = match.group(0)
        function, _ = ml_udf(word)
        if function is not None:
            return function.name
        if word.startswith("__bqml_predict"):
            return "ML.PREDICT"
        if word.startswith("bqml_read"):
            return "data"
        table = next((t for t in statement.find_all(exp.Table) if t.name == word), None) if statement else None
        return table.alias_or_name if table is not None and table.alias_or_name != word else "the object table"

    text = re.sub(r"\b(?:memory|main|temp|system|catalog)\.(?=\w)", "", text)
    return INTERNAL.sub(name, text)
