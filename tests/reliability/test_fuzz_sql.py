"""Any text, and mutations of the tutorials' real queries: every outcome is a DataFrame or a BQMLError.

A user's SQL must never reach them as a Python exception, a traceback or our internals: messages
may not name Python classes, sqlglot or DuckDB, nor our ``bqml_*`` functions and placeholders
(unless the user wrote that word). Derandomized with no example database, so CI runs the same
examples every time; a failure prints the SQL that caused it.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bqml_magic import Engine
from bqml_magic.errors import BQMLError

ROOT = Path(__file__).resolve().parents[2]
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LEAKS = re.compile(r"<class|Traceback|\bsqlglot\b|\bduckdb\b|(?<![\w.])_*bqml_(?!magic)\w+|\bFile \"", re.IGNORECASE)


def tutorial_queries() -> list[str]:
    """The statements of the notebooks' %%bqml cells and the README's engine.query calls."""
    found = []
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(notebook.read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code" and source.startswith("%%bqml"):
                found.append(source.split("\n", 1)[1])
    found += re.findall(r'\.query\("""(.*?)"""', (ROOT / "README.md").read_text(), re.DOTALL)
    return [q.strip() for q in found if q.strip()]


QUERIES = [q for q in tutorial_queries() if not q.upper().startswith(("CREATE SCHEMA", "CREATE OR REPLACE MODEL"))]
STATEMENTS = [  # the tutorials' DDL and DML forms, on a scratch dataset so the tutorials' objects stay
    "CREATE OR REPLACE EXTERNAL TABLE fuzz.objects WITH CONNECTION `us.my-connection`\n"
    "OPTIONS (object_metadata = 'SIMPLE', uris = ['gs://my_bucket/photos/*'], max_staleness = INTERVAL 1 DAY,\n"
    "metadata_cache_mode = 'MANUAL')",
    "CREATE OR REPLACE MODEL fuzz.m OPTIONS (model_type = 'ONNX', model_path = 'gs://my_models/classifier.onnx')",
    "CREATE OR REPLACE TABLE fuzz.t AS SELECT uri, size FROM my_dataset.object_table",
    "INSERT INTO fuzz.t (uri, size) SELECT uri, size FROM my_dataset.object_table WHERE size > 0",
    "UPDATE fuzz.t SET size = size + 1 WHERE uri LIKE '%.png'",
    "CREATE OR REPLACE VIEW fuzz.v AS SELECT uri, ML.DECODE_IMAGE(data) AS image FROM my_dataset.object_table",
    "DROP TABLE IF EXISTS fuzz.t2",
    "CALL BQ.REFRESH_EXTERNAL_METADATA_CACHE('my_dataset.object_table')",
]
SPICE = [
    "'", '"', "`", "(", ")", "[", "]", "((", "))", ",", ";", ".", "\\", "\x00", "\n", "\t", "é", "€",
    "\U0001d518", "\u00a0",
    "$", "@", "@@", "#", "--", "/*", "*/", "'''", '"""', "{", "}", "<", ">", "=", "+", "*", "!", "?", "0x", "1e999",
]  # fmt: skip
WORDS = [
    "SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", "LIMIT", "JOIN", "ON", "AS", "UNNEST", "WITH", "OFFSET",
    "UNION ALL", "CAST", "SAFE_CAST", "NULL", "TRUE", "CASE", "WHEN", "END", "ML.PREDICT", "MODEL", "ML.DECODE_IMAGE",
    "ML.RESIZE_IMAGE", "ML.DISTANCE", "data", "uri", "size", "1", "-1", "2.5", "'x'", "b'x'", "@labels", "*",
    "read_text('/etc/hostname')", "glob('/*')", "'/etc/passwd'", "current_setting('threads')", "bqml_read(uri)",
    "my_dataset.nope", "SELEC", "FORM", "WHER", "INSERT", "COPY", "ATTACH", "PRAGMA", "SET", "CALL", "STRUCT",
    "ARRAY", "DATE", "INTERVAL 1 DAY", "EXCEPT", "QUALIFY", "OVER ()", "DISTINCT", "IN", "LIKE", "IS NULL",
]  # fmt: skip
TOKEN = re.compile(r"\s+|\w+|'[^']*'|`[^`]*`|.", re.DOTALL)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A tutorial query with 1 to 4 edits: characters or tokens inserted, deleted, replaced, doubled, swapped."""
    sql = draw(st.sampled_from(QUERIES + STATEMENTS))
    for _ in range(draw(st.integers(1, 4))):
        tokens = TOKEN.findall(sql) or [""]
        i = draw(st.integers(0, len(tokens) - 1))
        edit = draw(st.sampled_from(["insert", "delete", "replace", "double", "swap", "char", "cut"]))
        piece = draw(st.sampled_from(SPICE + WORDS))
        if edit == "insert":
            tokens.insert(i, f" {piece} " if piece[:1].isalpha() else piece)
        elif edit == "delete":
            del tokens[i]
        elif edit == "replace":
            tokens[i] = piece
        elif edit == "double":
            tokens.insert(i, tokens[i])
        elif edit == "swap" and i + 1 < len(tokens):
            tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
        sql = "".join(tokens)
        if edit == "char" and sql:
            k = draw(st.integers(0, len(sql) - 1))
            sql = sql[:k] + draw(st.sampled_from(SPICE)) + sql[k + 1 :]
        elif edit == "cut" and sql:
            k = draw(st.integers(0, len(sql)))
            sql = sql[:k]
    return sql


def _photos(root: Path) -> Path:
    import matplotlib
    import skimage

    (root / "photos" / "more").mkdir(parents=True)
    shutil.copy(Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg", root / "photos")
    shutil.copy(Path(skimage.__file__).parent / "data" / "coffee.png", root / "photos" / "more")
    return root


def _models(root: Path) -> Path:
    """Tiny ONNX stand-ins for the tutorials' models: the same names, inputs and outputs, no weights."""
    from onnx import TensorProto, helper, save

    def model(name: str, feature: str, output: str) -> None:
        graph = helper.make_graph(
            [helper.make_node("ReduceMean", [feature], [output], axes=[1, 2], keepdims=0)],
            name,
            [helper.make_tensor_value_info(feature, TensorProto.FLOAT, ["N", 224, 224, 3])],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", 3])],
        )
        save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), root / f"{name}.onnx")

    root.mkdir(parents=True)
    model("classifier", "input_1", "predictions")
    model("features", "inputs", "feature_vector")
    return root


@pytest.fixture(scope="module")
def fuzz_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The tutorials' and the README's world, once for the module: object tables, models, embeddings table."""
    base = tmp_path_factory.mktemp("fuzz")
    engine = Engine(buckets={"my_bucket": _photos(base / "bucket"), "my_models": _models(base / "models")})
    engine.query(
        """CREATE SCHEMA my_dataset;
        CREATE EXTERNAL TABLE my_dataset.object_table WITH CONNECTION `us.my-connection`
          OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/photos/*']);
        CREATE EXTERNAL TABLE my_dataset.photos WITH CONNECTION DEFAULT
          OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/photos/*']);
        CREATE MODEL my_dataset.classifier OPTIONS(model_type = 'ONNX', model_path = 'gs://my_models/classifier.onnx');
        CREATE MODEL my_dataset.features OPTIONS(model_type = 'ONNX', model_path = 'gs://my_models/features.onnx');
        CREATE TABLE my_dataset.embeddings AS
          SELECT uri, [1.0, 2.0, 3.0] AS feature_vector FROM my_dataset.object_table;
        CREATE SCHEMA fuzz"""
    )
    yield engine
    engine.close()


def outcome(engine: Engine, sql: str) -> None:
    """Run ``sql``: a DataFrame, or a BQMLError whose message leaks nothing the user did not write."""
    try:
        result = engine.query(sql, {"labels": ["a", "b", "c"]})
    except BQMLError as exc:
        message = str(exc)
        leaked = [m for m in LEAKS.findall(message) if m.lower() not in sql.lower()]
        assert not leaked, f"{sql!r} -> {type(exc).__name__}: {message}"
        assert exc.line is None or (exc.line >= 1 and exc.column is not None and exc.column >= 1), message
        return
    except Exception as exc:  # the point: nothing else may escape
        pytest.fail(f"{sql!r} raised {type(exc).__name__}: {exc}")
    assert isinstance(result, pd.DataFrame)


def test_the_tutorial_queries_run(fuzz_engine: Engine):
    """The seeds themselves are valid: mutations start from SQL that works."""
    assert len(QUERIES) >= 10
    for sql in QUERIES + STATEMENTS:
        assert isinstance(fuzz_engine.query(sql, {"labels": ["a", "b", "c"]}), pd.DataFrame), sql


@FUZZ
@given(sql=st.text(max_size=120))
def test_any_text(fuzz_engine: Engine, sql: str):
    outcome(fuzz_engine, sql)


@FUZZ
@given(sql=st.lists(st.sampled_from(WORDS + SPICE), max_size=12).map(" ".join))
def test_any_words(fuzz_engine: Engine, sql: str):
    outcome(fuzz_engine, sql)


@settings(FUZZ, max_examples=300)
@given(sql=mutated())
def test_mutated_tutorial_queries(fuzz_engine: Engine, sql: str):
    outcome(fuzz_engine, sql)
