"""Every %%bigquery flag in %%bqml: honoured, noted or refused; ``$query`` cells and table-id cells."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from bqml_magic.config import context
from bqml_magic.errors import LimitError, NotFoundError, SQLError
from bqml_magic.magic.cell import cell_sql
from bqml_magic.magic.options import CLOUD_FLAGS

BEHAVIOUR = Path(__file__).resolve().parents[1] / "docs" / "behaviour.md"
NO_CLOUD = "(one local engine: no projects, regions or endpoints)"
NO_API = "(results come straight from DuckDB, through no API"


@pytest.fixture
def objects(shell, photos: Path):
    """The shell with ``my_dataset.object_table`` over every file of the ``photos`` bucket."""
    context.mount("my_bucket", photos)
    context.engine().query(
        "CREATE SCHEMA my_dataset; CREATE EXTERNAL TABLE my_dataset.object_table WITH CONNECTION DEFAULT "
        "OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/*'])"
    )
    return shell


def assert_not_created(schema: str) -> None:
    """CREATE SCHEMA fails on a schema that exists: this one must not, the cell ran nothing."""
    context.engine().query(f"CREATE SCHEMA {schema}")


# -- noted: the cell runs, with one line saying the flag does nothing here -------------------------
NOTED = [
    ("--project my-project", f"Note: --project my-project has no effect here {NO_CLOUD}"),
    ("--location us-central1", f"Note: --location us-central1 has no effect here {NO_CLOUD}"),
    (
        "--bigquery_api_endpoint https://bq.example",
        f"Note: --bigquery_api_endpoint https://bq.example has no effect here {NO_CLOUD}",
    ),
    (
        "--bqstorage_api_endpoint https://st.example",
        f"Note: --bqstorage_api_endpoint https://st.example has no effect here {NO_CLOUD}",
    ),
    ("--use_rest_api", f"Note: --use_rest_api has no effect here {NO_API})"),
    (
        "--use_bqstorage_api",
        f"Note: --use_bqstorage_api has no effect here {NO_API}; the flag is deprecated in %%bigquery too)",
    ),
    ("--no_query_cache", "Note: --no_query_cache has no effect here (there is no query cache: every query runs)"),
    ("--graph", "Note: --graph has no effect here (there is no graph visualizer: the result shows as a table)"),
]


@pytest.mark.parametrize(("flag", "note"), NOTED)
def test_a_cloud_flag_runs_the_cell_with_one_note(shell, flag, note):
    with capture_output() as cap:
        shell.run_cell(f"%%bqml out {flag}\nSELECT 41 + 1 AS x")
    assert shell.user_ns["out"]["x"].tolist() == [42]
    assert [line for line in cap.stdout.splitlines() if line.startswith("Note:")] == [note]


def test_several_cloud_flags_give_one_line(shell):
    with capture_output() as cap:
        shell.run_cell("%%bqml --project p --location EU --use_rest_api --no_query_cache\nSELECT 1 AS x")
    notes = [line for line in cap.stdout.splitlines() if line.startswith("Note:")]
    assert notes == [
        "Note: --project p, --location EU, --use_rest_api, --no_query_cache have no effect here (one local engine: "
        "no projects, regions or endpoints; results come straight from DuckDB, through no API; "
        "there is no query cache: every query runs)"
    ]


@pytest.mark.parametrize("line", ["", "--engine pandas", "--verbose", "--max_results 5"])
def test_no_note_without_a_cloud_flag(shell, line):
    with capture_output() as cap:
        shell.run_cell(f"%%bqml {line}\nSELECT 1 AS x")
    assert "Note:" not in cap.stdout


# -- refused: the cell stops before running anything -------------------------------------------------
REFUSED = [
    ("--use_legacy_sql", "--use_legacy_sql: legacy SQL is not supported here, only GoogleSQL"),
    ("--engine bigframes", "--engine bigframes: BigQuery DataFrames run in BigQuery itself: use --engine pandas"),
    ("--use_geodataframe geom", "--use_geodataframe geom: GEOGRAPHY columns are not supported here"),
    ("--engine spark", "invalid choice: 'spark'"),
    ("--maximum_bytes_billed lots", "--maximum_bytes_billed takes a number of bytes or None, not 'lots'"),
    ("--maximum_bytes_billed -1", "--maximum_bytes_billed takes 0 or more bytes"),
]


def test_every_cloud_flag_has_a_case_here():
    cases = " ".join(flag for flag, _ in NOTED) + " " + " ".join(line for line, _ in REFUSED)
    assert {row.flag for row in CLOUD_FLAGS} <= set(re.findall(r"--\w+", cases))


@pytest.mark.parametrize(("flag", "message"), REFUSED)
def test_a_refused_flag_stops_the_cell_before_it_runs(shell, flag, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        shell.run_cell(f"%%bqml {flag}\nCREATE SCHEMA refused")
    assert_not_created("refused")


# -- --maximum_bytes_billed: BigQuery's refusal, by the bytes of the objects read ---------------------
def object_bytes(photos: Path) -> int:
    return sum(f.stat().st_size for f in photos.rglob("*") if f.is_file())


SCRIPT = "CREATE SCHEMA other;\nSELECT uri FROM my_dataset.object_table"


def test_maximum_bytes_billed_refuses_the_script_before_it_runs(objects, photos):
    total = object_bytes(photos)
    expected = f"Query exceeded limit for bytes billed: {total - 1}. {total} or higher required."
    with pytest.raises(LimitError, match=re.escape(expected)):
        objects.run_cell(f"%%bqml --maximum_bytes_billed {total - 1}\n{SCRIPT}")
    assert_not_created("other")  # not even the script's first statement ran


@pytest.mark.parametrize("limit", ["exactly", "None", "0"])
def test_maximum_bytes_billed_lets_the_script_run(objects, photos, limit):
    given = object_bytes(photos) if limit == "exactly" else limit
    objects.run_cell(f"%%bqml out --maximum_bytes_billed {given}\n{SCRIPT}")
    assert len(objects.user_ns["out"]) == 3


def test_maximum_bytes_billed_counts_the_objects_behind_a_view(objects, photos):
    objects.run_cell("%%bqml\nCREATE VIEW my_dataset.photos AS SELECT uri FROM my_dataset.object_table")
    with pytest.raises(LimitError, match=f"{object_bytes(photos)} or higher required"):
        objects.run_cell("%%bqml --maximum_bytes_billed 1\nSELECT uri FROM my_dataset.photos")


def test_maximum_bytes_billed_counts_only_object_tables(objects):
    objects.run_cell("%%bqml out --maximum_bytes_billed 1\nSELECT x FROM UNNEST([1, 2]) AS x")
    assert objects.user_ns["out"]["x"].tolist() == [1, 2]


def test_maximum_bytes_billed_from_python(engine, photos):
    total = object_bytes(photos)
    with pytest.raises(LimitError, match=f"{total} or higher required"):
        engine.query("SELECT uri FROM my_dataset.object_table", maximum_bytes_billed=1000)
    assert len(engine.query("SELECT uri FROM my_dataset.object_table", maximum_bytes_billed=total)) == 3


# -- --pyformat ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "sql", "expected"),
    [
        ("--pyformat", "SELECT {n} AS v", 7),
        ("--pyformat", "SELECT '{word}' AS v", "owl"),
        ("--pyformat", "SELECT '{ratio:.2f}' AS v", "0.33"),
        ("--pyformat", "SELECT '{{n}}' AS v", "{n}"),
        ("--pyformat", "SELECT x AS v FROM {table}", 5),
        ("", "SELECT '{n}' AS v", "{n}"),  # without the flag, braces are SQL's
    ],
)
def test_pyformat_fills_names_from_the_notebook(shell, line, sql, expected):
    shell.run_cell("%%bqml\nCREATE SCHEMA d; CREATE TABLE d.numbers AS SELECT 5 AS x")
    shell.user_ns.update(n=7, word="owl", ratio=1 / 3, table="d.numbers")
    shell.run_cell(f"%%bqml out {line}\n{sql}")
    assert shell.user_ns["out"]["v"].tolist() == [expected]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT {nowhere}", "there is no variable 'nowhere' for {nowhere}"),
        ("SELECT {items}", "items is a list; only str, int and float go into SQL"),
        ("SELECT '}'", "Single '}' encountered"),
        ("SELECT {n.real}", "there is no variable 'n.real'"),
    ],
)
def test_pyformat_errors(shell, sql, message):
    shell.user_ns.update(n=7, items=[1, 2])
    with pytest.raises(UsageError, match=re.escape(message)):
        shell.run_cell(f"%%bqml --pyformat\n{sql}")


# -- $query_variable and table-id cells ---------------------------------------------------------------
NAMESPACE = {"q": "SELECT 1 AS x", "raw": b"SELECT 2 AS x", "where": "my_dataset.object_table", "t": "{tbl}"}


@pytest.mark.parametrize(
    ("text", "sql"),
    [
        ("SELECT 1", "SELECT 1"),
        ("\n  SELECT 1\n", "\n  SELECT 1\n"),  # as written: error positions stay the cell's own
        ("$q", "SELECT 1 AS x"),
        ("  $raw\n", "SELECT 2 AS x"),
        ("$where", "SELECT * FROM `my_dataset`.`object_table`"),
        ("my_dataset.t", "SELECT * FROM `my_dataset`.`t`"),
        ("my-project.my_dataset.t\n", "SELECT * FROM `my_dataset`.`t`"),
        ("`my-project.my_dataset.t`", "SELECT * FROM `my_dataset`.`t`"),
        ("`my_dataset`.`odd-name`", "SELECT * FROM `my_dataset`.`odd-name`"),
        ("$q extra", "$q extra"),  # not $ and an identifier alone: left as written
    ],
)
def test_what_a_cell_stands_for(text, sql):
    assert cell_sql(text, NAMESPACE) == sql


def test_pyformat_applies_to_the_variable_too():
    assert cell_sql("$t", {**NAMESPACE, "tbl": "d.x"}, pyformat=True) == "SELECT * FROM `d`.`x`"


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("$", UsageError, "The cell is a lone $"),
        ("$missing", UsageError, "there is no variable 'missing' holding the query"),
        ("$number", UsageError, "$number holds a int; the query must be a str"),
        ("$123foo", SQLError, "A cell without spaces is a table id, as in %%bigquery"),
        ("just_a_table", SQLError, 'table id, as in %%bigquery: Table "just_a_table" must be qualified'),
    ],
)
def test_what_a_cell_cannot_stand_for(text, error, message):
    with pytest.raises(error, match=re.escape(message)):
        cell_sql(text, {"number": 3})


def test_a_query_variable_runs(shell):
    shell.user_ns["query"] = "SELECT x FROM UNNEST([3, 4]) AS x ORDER BY x"
    shell.run_cell("%%bqml out\n$query")
    assert shell.user_ns["out"]["x"].tolist() == [3, 4]


@pytest.mark.parametrize(
    ("cell", "rows"),
    [
        ("my_dataset.object_table", 3),
        ("`any-project.my_dataset.object_table`", 3),
        ("any-project.my_dataset.object_table", 3),
        ("--max_results 2\nmy_dataset.object_table", 2),
        ("\n`my_dataset`.`odd-name`\n", 1),
    ],
)
def test_a_table_id_cell_lists_the_rows(objects, cell, rows):
    context.engine().query("CREATE TABLE my_dataset.`odd-name` AS SELECT 1 AS x")
    line, _, body = cell.rpartition("\n") if cell.startswith("--") else ("", "", cell)
    objects.run_cell(f"%%bqml out {line}\n{body}")
    assert len(objects.user_ns["out"]) == rows


def test_an_object_table_id_lists_its_metadata_not_its_bytes(objects):
    objects.run_cell("%%bqml out\nmy_dataset.object_table")
    columns = list(objects.user_ns["out"].columns)
    assert "uri" in columns and "data" not in columns  # data is not in SELECT * of an object table


def test_a_missing_table_id_is_not_found(objects):
    with pytest.raises(NotFoundError, match="nothing"):
        objects.run_cell("%%bqml\nmy_dataset.nothing")


# -- docs -----------------------------------------------------------------------------------------
def test_the_docs_table_lists_every_flag():
    section = BEHAVIOUR.read_text().split('<a id="bigquery-compatibility"></a>', 1)[1]
    documented = set(re.findall(r"^\| `(--\w+)", section, re.MULTILINE))
    assert {row.flag for row in CLOUD_FLAGS} | {"--maximum_bytes_billed", "--pyformat"} <= documented
