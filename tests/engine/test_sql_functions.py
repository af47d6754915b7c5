"""SQL user-defined functions (docs/behaviour.md#sql-udfs): CREATE [TEMP] FUNCTION, calls anywhere,
DROP FUNCTION, ML.* inside them, persistence across processes, and every error a user can cause."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
import sqlglot

from bqml_magic import Engine
from bqml_magic.errors import AlreadyExistsError, NotFoundError, SQLError
from bqml_magic.sql.names import Name
from bqml_magic.sql.pipeline import translate
from bqml_magic.sql.udf import Routine

FUNCTIONS = """
CREATE SCHEMA d;
CREATE TABLE d.t AS SELECT x FROM UNNEST([1, 2, 3]) AS x;
CREATE FUNCTION d.add_one(x INT64) AS (x + 1);
CREATE FUNCTION d.halve(x FLOAT64) RETURNS FLOAT64 AS (x / 2);
CREATE FUNCTION d.thirds(x INT64) RETURNS INT64 AS (x / 3) OPTIONS(description = 'rounded, as BigQuery casts');
CREATE FUNCTION d.twice(v ANY TYPE) AS (v || v);
CREATE FUNCTION d.add_two(x INT64) AS (d.add_one(d.add_one(x)));
CREATE FUNCTION d.rows() AS ((SELECT COUNT(*) FROM d.t));
CREATE FUNCTION d.pick(s STRUCT<i INT64, words ARRAY<STRING>>) AS (s.words[OFFSET(s.i)]);
CREATE FUNCTION d.day(x DATE) AS (EXTRACT(DAY FROM x))
"""


@pytest.fixture(scope="module")
def functions() -> Iterator[Engine]:
    """An in-memory engine with the persistent functions of ``FUNCTIONS`` (tests only read it)."""
    engine = Engine()
    engine.query(FUNCTIONS)
    yield engine
    engine.close()


@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        ("SELECT d.add_one(1) AS y", [{"y": 2}]),
        (
            "SELECT `d.add_one`(1) AS y, `my-project.d.add_one`(2) AS z, `my-project`.d.add_one(3) AS w",
            [{"y": 2, "z": 3, "w": 4}],
        ),
        ("SELECT D.ADD_ONE(1) AS y", [{"y": 2}]),
        ("SELECT d.add_one(1)", [{"f0_": 2}]),  # unnamed: BigQuery's f0_
        ("SELECT d.add_two(1) AS y", [{"y": 3}]),  # a function calling another
        ("SELECT d.halve(3) AS y", [{"y": 1.5}]),  # INT64 -> FLOAT64: coerced, as BigQuery does
        ("SELECT d.thirds(10) AS a, d.thirds(11) AS b", [{"a": 3, "b": 4}]),  # RETURNS INT64 casts (rounds)
        ("SELECT d.twice('ab') AS s, ARRAY_LENGTH(d.twice([1])) AS n", [{"s": "abab", "n": 2}]),  # ANY TYPE
        ("SELECT d.rows() AS n", [{"n": 3}]),
        ("SELECT d.day(DATE '2024-01-05') AS a, d.day('2024-01-06') AS b", [{"a": 5, "b": 6}]),  # literal coercion
        ("SELECT d.pick(STRUCT(1 AS i, ['a', 'b'] AS words)) AS w", [{"w": "b"}]),
        ("SELECT x FROM d.t WHERE d.add_one(x) > 2 ORDER BY d.add_one(x) DESC", [{"x": 3}, {"x": 2}]),
        (
            "SELECT d.add_one(x) AS y, COUNT(*) AS n FROM d.t GROUP BY d.add_one(x) ORDER BY y LIMIT 1",
            [{"y": 2, "n": 1}],
        ),
        (  # BigQuery's own example (docs: user-defined-functions#sql-udf-structure)
            "CREATE TEMP FUNCTION AddFourAndDivide(x INT64, y INT64) RETURNS FLOAT64 AS ((x + 4) / y);"
            "SELECT val, AddFourAndDivide(val, 2) FROM UNNEST([2, 3, 5, 8]) AS val ORDER BY val",
            [{"val": 2, "f0_": 3.0}, {"val": 3, "f0_": 3.5}, {"val": 5, "f0_": 4.5}, {"val": 8, "f0_": 6.0}],
        ),
        ("CREATE TEMP FUNCTION f(x INT64) AS (d.add_one(x) * 10); SELECT f(1) AS y, F(2) AS z", [{"y": 20, "z": 30}]),
        ("CREATE TEMP FUNCTION f(x INT64) AS (x + @offset); SELECT f(1) AS y", [{"y": 101}]),
        ("CREATE TEMP FUNCTION f(x INT64) AS (x) OPTIONS(description = 'after AS'); SELECT f(7) AS y", [{"y": 7}]),
        (  # a temporary function in DML and CREATE TABLE ... AS, across statements of one script
            "CREATE TEMP FUNCTION tenfold(x INT64) AS (x * 10);"
            "CREATE TABLE d.copy AS SELECT tenfold(x) AS y FROM d.t; INSERT INTO d.copy SELECT tenfold(4);"
            "UPDATE d.copy SET y = d.add_one(y) WHERE y > 30; SELECT y FROM d.copy ORDER BY y; DROP TABLE d.copy",
            [],
        ),
    ],
)
def test_calls(functions: Engine, sql, rows):
    assert functions.query(sql, params={"offset": 100}).to_dict("records") == rows


def test_a_script_s_last_statement_keeps_its_rows(functions: Engine):
    sql = "CREATE TEMP FUNCTION tenfold(x INT64) AS (x * 10); SELECT tenfold(x) AS y FROM d.t ORDER BY y"
    assert functions.query(sql).y.tolist() == [10, 20, 30]


@pytest.mark.parametrize(
    ("sql", "error", "message"),
    [
        ("SELECT d.nope(1)", NotFoundError, r"Function not found: d\.nope; functions in d: add_one, .*\[at 1:8\]"),
        ("SELECT d.add_on(1)", NotFoundError, r"Function not found: d\.add_on; did you mean add_one.*\[at 1:8\]"),
        ("SELECT\n  nods.f(1)", NotFoundError, r"Function not found: nods\.f \(there is no dataset nods\) \[at 2:3\]"),
        ("SELECT a.b.c.f(1)", SQLError, r"Invalid function name a\.b\.c\.f.*\[at 1:8\]"),
        (
            "SELECT 1, d.add_one(1, 2)",
            SQLError,
            r"d\.add_one with 2 argument\(s\)\. Supported signature: d\.add_one\(INT64\) \[at 1:11\]",
        ),
        (
            "SELECT d.add_one(2.5)",
            SQLError,
            r"No matching signature for function d\.add_one .*d\.add_one\(INT64\) \[at 1:8\]",
        ),
        ("SELECT d.add_one('1')", SQLError, r"No matching signature for function d\.add_one"),
        ("SELECT d.day(CONCAT('2024-01-0', '5'))", SQLError, r"function d\.day .*signature: d\.day\(DATE\) \[at 1:8\]"),
        ("SELECT d.day('nope')", SQLError, r"Invalid date: 'nope' \[at 1:14\]"),
        ("SELECT nope_fn(1)", SQLError, r"Function not found: nope_fn \[at 1:8\]"),
        ("CREATE FUNCTION d.add_one(x INT64) AS (x)", AlreadyExistsError, r"Already Exists: Function d\.add_one"),
        ("CREATE OR REPLACE FUNCTION IF NOT EXISTS d.g(x INT64) AS (x)", SQLError, "cannot be used together"),
        ("CREATE FUNCTION f(x INT64) AS (x)", SQLError, r'Function "f" must be qualified with a dataset.*\[at 1:17\]'),
        ("CREATE FUNCTION nods.f(x INT64) AS (x)", NotFoundError, r"Not found: Dataset nods"),
        (
            "CREATE TEMP FUNCTION d.f(x INT64) AS (x)",
            SQLError,
            r"temporary function's name cannot be qualified.*\[at 1:22\]",
        ),
        ("CREATE TEMP FUNCTION upper(s STRING) AS (s)", SQLError, r"upper is the name of a built-in function"),
        ("CREATE FUNCTION d.g(x INT64) AS\n  (x + y)", NotFoundError, r"Unrecognized name: y \[at 2:8\]"),
        ("CREATE FUNCTION d.g(x INT64) AS (d.nope(x))", NotFoundError, r"Function not found: d\.nope.*\[at 1:34\]"),
        ("CREATE FUNCTION d.g(x INT64, X STRING) AS (x)", SQLError, r"Duplicate argument name X \[at 1:30\]"),
        ("CREATE FUNCTION d.g(x) AS (x)", SQLError, r"Parameter x needs a type"),
        ("CREATE FUNCTION d.g(x INT64) RETURNS ANY TYPE AS (x)", SQLError, r"RETURNS must name one type"),
        ("CREATE FUNCTION d.g(x INT64) AS (x) OPTIONS(library = 'a.js')", SQLError, r"Unknown option library"),
        (
            "CREATE FUNCTION d.g(x INT64) AS (x + @offset)",
            SQLError,
            r"Persistent function d\.g cannot use query parameters \(@offset\)",
        ),
        ("CREATE TEMP FUNCTION f(x INT64) AS (x + @nope)", SQLError, r"Query parameter\(s\) not given: @nope"),
        (
            "CREATE TEMP FUNCTION f(x INT64) AS (x); CREATE FUNCTION d.g(x INT64) AS (f(x))",
            SQLError,
            r"Persistent function d\.g cannot reference temporary function f \[at 1:74\]",
        ),
        (
            "CREATE TEMP FUNCTION f(x INT64) AS (x); CREATE VIEW d.v AS SELECT f(1) AS y",
            SQLError,
            r"View d\.v cannot reference temporary function f \[at 1:67\]",
        ),
        ("CREATE TEMP FUNCTION f(x INT64) AS (x); CREATE TEMP FUNCTION f(x INT64) AS (x)", AlreadyExistsError, "f"),
        ("CREATE TEMP FUNCTION f(x INT64) AS (x); DROP FUNCTION f; SELECT f(1)", SQLError, r"Function not found: f"),
        ("DROP FUNCTION d.nope", NotFoundError, r"Not found: Function d\.nope \[at 1:15\]"),
        ("DROP FUNCTION nope", NotFoundError, r"Not found: Function nope"),
        (
            "CREATE TEMP FUNCTION f(x INT64) RETURNS INT64 LANGUAGE js AS 'return x;'",
            SQLError,
            r"other languages than SQL \(LANGUAGE js, python\) are not supported here; supported here: SQL functions",
        ),
        (
            "CREATE FUNCTION d.g(x INT64) RETURNS INT64 REMOTE WITH CONNECTION `us.c` OPTIONS(endpoint = 'https://x')",
            SQLError,
            r"Remote functions \(REMOTE WITH CONNECTION\) are not supported here",
        ),
        ("CREATE TABLE FUNCTION d.g(x INT64) AS SELECT x", SQLError, r"Table functions .* not supported.*\[at 1:8\]"),
        ("CREATE AGGREGATE FUNCTION d.g(x INT64) AS (SUM(x))", SQLError, r"Aggregate functions .*\[at 1:8\]"),
        (
            "CREATE OR REPLACE TEMP AGGREGATE FUNCTION g(x INT64) AS (SUM(x))",
            SQLError,
            r"Aggregate functions .*\[at 1:24\]",
        ),
        (
            "CREATE FUNCTION d.g(x INT64) AS ((SELECT 1 FROM ML.PREDICT(MODEL d.m, (SELECT 1))))",
            SQLError,
            r"ML\.PREDICT inside a function is not supported",
        ),
        (
            "CREATE FUNCTION d.g(x INT64)\n  AS (x +) OPTIONS(description = 'a')",
            SQLError,
            r'Unexpected "\)" \[at 2:10\]',
        ),
        (
            "SELECT 1; CREATE FUNCTION d.g(x INT64) AS (x) OPTIONS(description = 'a'",
            SQLError,
            r"Syntax error: this CREATE FUNCTION could not be read; supported here: SQL functions.*\[at 1:11\]",
        ),
    ],
)
def test_errors(functions: Engine, sql, error, message):
    with pytest.raises(error, match=message):
        functions.query(sql, params={"offset": 1})


def test_a_script_that_fails_runs_nothing(functions: Engine):
    """A refused form fails the script when it is parsed, before its first statement runs."""
    with pytest.raises(SQLError, match="Table functions"):
        functions.query("CREATE FUNCTION d.early(x INT64) AS (x); CREATE TABLE FUNCTION d.g(x INT64) AS SELECT x")
    with pytest.raises(NotFoundError):
        functions.query("SELECT d.early(1)")


def test_temporary_functions_last_for_their_script(functions: Engine):
    assert functions.query("CREATE TEMP FUNCTION f(x INT64) AS (x * 2); SELECT f(4) AS y").y[0] == 8
    with pytest.raises(SQLError, match=r"Function not found: f \[at 1:8\]"):
        functions.query("SELECT f(4)")
    with pytest.raises(NotFoundError, match=r"Table d\.nope"):
        functions.query("CREATE TEMP FUNCTION g(x INT64) AS (x); SELECT g(1) FROM d.nope")
    with pytest.raises(SQLError, match="Function not found: g"):  # gone after a failed script too
        functions.query("SELECT g(1)")


def test_temporary_functions_last_for_their_cell(shell):
    shell.run_cell("%%bqml out\nCREATE TEMP FUNCTION f(x INT64) AS (x * 2);\nSELECT f(21) AS y")
    assert shell.user_ns["out"].y.tolist() == [42]
    with pytest.raises(SQLError, match="Function not found: f"):
        shell.run_cell("%%bqml\nSELECT f(21) AS y")


def test_replace_if_not_exists_and_drop():
    engine = Engine()
    engine.query("CREATE SCHEMA d; CREATE FUNCTION d.f(x INT64) AS (x + 1)")
    engine.query("CREATE FUNCTION IF NOT EXISTS d.f(x INT64) AS (x + 100)")  # does nothing
    assert engine.query("SELECT d.f(1) AS y").y[0] == 2
    engine.query("CREATE OR REPLACE FUNCTION d.F(x FLOAT64) AS (x * 10)")  # names are case-insensitive
    assert engine.query("SELECT d.f(1.5) AS y").y[0] == 15.0
    with pytest.raises(NotFoundError, match="Unrecognized name: nope"):
        engine.query("CREATE OR REPLACE FUNCTION d.f(x INT64) AS (nope)")
    assert engine.query("SELECT d.f(1.5) AS y").y[0] == 15.0  # a failed replace keeps the old function
    engine.query("CREATE TABLE d.f AS SELECT 1 AS a")  # functions and tables have separate names
    engine.query("DROP TABLE d.f; DROP FUNCTION d.f; DROP FUNCTION IF EXISTS d.f; DROP FUNCTION IF EXISTS nods.f")
    with pytest.raises(NotFoundError, match=r"Function not found: d\.f"):
        engine.query("SELECT d.f(1)")


def test_a_function_lives_in_its_dataset():
    engine = Engine()
    engine.query("CREATE SCHEMA d; CREATE FUNCTION d.f(x INT64) AS (x)")
    with pytest.raises(SQLError, match=r"Dataset d is not empty \(1 object"):
        engine.query("DROP SCHEMA d")
    engine.query("DROP SCHEMA d CASCADE; CREATE SCHEMA d")
    with pytest.raises(NotFoundError, match=r"Function not found: d\.f"):
        engine.query("SELECT d.f(1)")


def test_a_dropped_function_fails_its_callers_when_they_run():
    """Calls bind when they run, as BigQuery's do: a caller outlives its callee, and fails then."""
    engine = Engine()
    engine.query("CREATE SCHEMA d; CREATE FUNCTION d.f(x INT64) AS (x); CREATE FUNCTION d.g(x INT64) AS (d.f(x) + 1)")
    engine.query("CREATE VIEW d.v AS SELECT d.g(1) AS y")
    assert engine.query("SELECT y FROM d.v").y[0] == 2
    engine.query("DROP FUNCTION d.f")
    with pytest.raises(SQLError, match="Function not found: f"):
        engine.query("SELECT d.g(1)")


def test_functions_persist_across_processes(photos, tmp_path):
    """Made in one process, called in another: a macro calling our ML.* functions binds again there."""
    script = textwrap.dedent(
        f"""
        import sys
        from bqml_magic import Engine
        eng = Engine(workspace={str(tmp_path / "ws")!r}, buckets={{"my_bucket": {str(photos)!r}}})
        if sys.argv[1] == "create":
            eng.query('''CREATE SCHEMA d;
                CREATE EXTERNAL TABLE d.objects OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/*']);
                CREATE FUNCTION d.pixels(image BYTES) RETURNS INT64 AS (ARRAY_LENGTH(ML.DECODE_IMAGE(image).values));
                CREATE FUNCTION d.label(x INT64) AS (CONCAT(CAST(x AS STRING), ' values'))''')
        sql = "SELECT d.label(d.pixels(data)) AS n FROM d.objects WHERE content_type LIKE 'image/%' ORDER BY uri"
        print(eng.query(sql).n.tolist())
        """
    )
    first = subprocess.run([sys.executable, "-c", script, "create"], capture_output=True, text=True)
    second = subprocess.run([sys.executable, "-c", script, "call"], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert first.stdout == second.stdout == "['921600 values', '720000 values']\n"


ML_FUNCTIONS = """
CREATE FUNCTION my_dataset.small(image STRUCT<dimensions ARRAY<INT64>, values ARRAY<FLOAT64>>)
  AS (ML.RESIZE_IMAGE(image, 8, 8, FALSE));
CREATE FUNCTION my_dataset.decoded(b BYTES) AS (ML.DECODE_IMAGE(b));
CREATE FUNCTION my_dataset.prepared(b BYTES) AS (ML.RESIZE_IMAGE(ML.DECODE_IMAGE(b), 8, 8, FALSE))
"""
DIRECT = "ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 8, 8, FALSE)"
IMAGES = "FROM my_dataset.object_table WHERE content_type LIKE 'image/%' ORDER BY uri"


@pytest.mark.parametrize(
    "call",
    [
        "my_dataset.small(ML.DECODE_IMAGE(data))",  # an ML.* argument: the function runs in DuckDB
        "ML.RESIZE_IMAGE(my_dataset.decoded(data), 8, 8, FALSE)",  # lifted ML.*, a function's result as its input
        "my_dataset.prepared(data)",  # ML.* inside the function, the file read by the worker
    ],
)
def test_ml_functions_inside_and_around_functions(engine: Engine, call):
    engine.query(ML_FUNCTIONS)
    expected = engine.query(f"SELECT uri, {DIRECT} AS image {IMAGES}")
    got = engine.query(f"SELECT uri, {call} AS image {IMAGES}")
    assert got.uri.tolist() == expected.uri.tolist() and len(got) == 2
    for mine, theirs in zip(got.image, expected.image):
        assert list(mine["dimensions"]) == list(theirs["dimensions"]) == [8, 8, 3]
        assert list(mine["values"]) == list(theirs["values"])


def test_a_function_prepares_ml_predict_s_input(scorer: Engine):
    scorer.query(ML_FUNCTIONS)
    predict = "SELECT uri, score FROM ML.PREDICT(MODEL my_dataset.scorer, (SELECT uri, {} AS image, 0.5 AS bias {}))"
    expected = scorer.query(predict.format(DIRECT, IMAGES))
    got = scorer.query(predict.format("my_dataset.prepared(data)", IMAGES))
    assert got.sort_values("uri").to_dict("records") == expected.sort_values("uri").to_dict("records")


def test_the_dry_run_understands_functions(engine: Engine):
    engine.query("CREATE FUNCTION my_dataset.pixels(b BYTES) AS (ARRAY_LENGTH(ML.DECODE_IMAGE(b).values))")
    report = engine.dry_run(
        "CREATE TEMP FUNCTION twice(x INT64) AS (x * 2);"
        "CREATE FUNCTION my_dataset.half(x INT64) AS (x / 2);"
        "SELECT twice(1), my_dataset.half(2), my_dataset.pixels(data) FROM my_dataset.object_table;"
        "DROP FUNCTION my_dataset.half"
    )
    text = report.summary()
    assert report.problems == [] and "1. CREATE FUNCTION twice" in text and "4. DROP FUNCTION" in text
    assert "calls twice, created earlier in this script: not checked" in text
    assert "calls my_dataset.half, created earlier in this script: not checked" in text
    assert "my_dataset.pixels" not in text  # it exists: checked, nothing to say
    with pytest.raises(NotFoundError, match=r"Function not found: my_dataset\.nope"):
        engine.dry_run("CREATE FUNCTION my_dataset.g(x INT64) AS (my_dataset.nope(x))")
    assert engine.query("SELECT COUNT(*) AS n FROM my_dataset.object_table").n[0] == 3  # nothing ran


class _Resolver:
    """``d.f`` is a persistent function; ``tmp`` a temporary one; nothing else."""

    def relation_kind(self, name):
        raise NotFoundError(f"Not found: Table {name}")

    def view_query(self, name):
        return None

    def object_rows(self, name, source):
        raise AssertionError("no object tables here")

    def function(self, name):
        if name == Name("d", "f") or name == Name("D", "F"):
            return Routine("d.f", ("d", "f"), ("INT64",), temporary=False)
        if isinstance(name, str):
            return Routine("tmp", ("__bqml_temp", "main", "tmp"), ("ANY TYPE",), True) if name == "tmp" else None
        raise NotFoundError(f"Function not found: {name}")


@pytest.mark.parametrize(
    ("bigquery", "duckdb"),
    [
        ("SELECT d.f(1) AS y", 'SELECT "d"."f"(1) AS y'),
        ("SELECT `p.d.f`(1) AS y, p.D.F(2) AS z", 'SELECT "d"."f"(1) AS y, "d"."f"(2) AS z'),
        ("SELECT tmp(d.f(x)) AS y", 'SELECT "__bqml_temp"."main"."tmp"("d"."f"(x)) AS y'),
        ("SELECT other(1) AS y", "SELECT OTHER(1) AS y"),  # neither: a built-in, DuckDB's to resolve
        ("SELECT ML.DISTANCE([1.0], [2.0]) AS y", "SELECT BQML_DISTANCE_2([1.0e0], [2.0e0]) AS y"),
    ],
)
def test_calls_become_macro_calls(bigquery, duckdb):
    assert translate(sqlglot.parse_one(bigquery, read="bigquery"), _Resolver()).sql == duckdb
