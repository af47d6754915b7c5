"""CREATE / DROP EXTERNAL TABLE read by bqml_magic.sql.external_table, fed as the engine feeds it:
the statements of ``sqlglot.parse(sql, read="bigquery")``, with the script for error positions."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import TokenError

from bqml_magic.errors import SQLError
from bqml_magic.sql.command_reader import tokenize
from bqml_magic.sql.external_table import CreateExternalTable, external_table_statement
from bqml_magic.sql.names import Name, object_name, position

OPTS = "OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://b/*'])"
SIMPLE = {"object_metadata": "SIMPLE", "uris": ["gs://b/*"]}
NOT_CONSTANT = "must be a constant (string, number, boolean, NULL, array or INTERVAL)"
MULTI_LINE = """-- an object table
CREATE OR REPLACE  /* why not */ EXTERNAL TABLE
  `p.d`.t  # the name
  WITH CONNECTION
    us.my-connection -- the connection
  """


def read(sql: str, script: bool = True) -> list[CreateExternalTable | exp.Drop | None]:
    return [external_table_statement(s, sql if script else None) for s in sqlglot.parse(sql, read="bigquery")]


def only(sql: str) -> CreateExternalTable | exp.Drop:
    found = [r for r in read(sql) if r is not None]
    assert len(found) == 1, found
    return found[0]


# (id, statement without its OPTIONS, dataset.name, replace, if_not_exists, connection)
# fmt: off
CREATES = [
    ("plain", "CREATE EXTERNAL TABLE d.t WITH CONNECTION us.my-connection", "d.t", False, False, "us.my-connection"),
    ("or-replace", "CREATE OR REPLACE EXTERNAL TABLE d.t WITH CONNECTION us.conn", "d.t", True, False, "us.conn"),
    ("if-not-exists", "CREATE EXTERNAL TABLE IF NOT EXISTS d.t WITH CONNECTION us.conn", "d.t", False, True, "us.conn"),
    ("backticked-path", "CREATE EXTERNAL TABLE `project.dataset.t` WITH CONNECTION DEFAULT",
     "dataset.t", False, False, "DEFAULT"),
    ("backticked-prefix", "CREATE EXTERNAL TABLE `project.dataset`.t WITH CONNECTION DEFAULT",
     "dataset.t", False, False, "DEFAULT"),
    ("backticked-parts", "CREATE EXTERNAL TABLE `p`.`d`.`my t` WITH CONNECTION DEFAULT",
     "d.my t", False, False, "DEFAULT"),
    ("dashed-project", "CREATE EXTERNAL TABLE my-project.d.t WITH CONNECTION DEFAULT", "d.t", False, False, "DEFAULT"),
    ("table-named-options", "CREATE EXTERNAL TABLE d.options WITH CONNECTION DEFAULT",
     "d.options", False, False, "DEFAULT"),
    ("connection-backticked", "CREATE EXTERNAL TABLE d.t WITH CONNECTION `project.us.conn`",
     "d.t", False, False, "project.us.conn"),
    ("connection-backticked-parts", "CREATE EXTERNAL TABLE d.t WITH CONNECTION `my-p`.us.`my-c`",
     "d.t", False, False, "my-p.us.my-c"),
    ("connection-three-parts", "CREATE EXTERNAL TABLE d.t WITH CONNECTION project.us.c",
     "d.t", False, False, "project.us.c"),
    ("lower-case", "create or replace external table d.t with connection default", "d.t", True, False, "DEFAULT"),
    ("no-connection", "CREATE EXTERNAL TABLE d.t", "d.t", False, False, None),
    ("no-connection-or-replace", "CREATE OR REPLACE EXTERNAL TABLE `p.d.t`", "d.t", True, False, None),
    ("no-connection-if-not-exists", "CREATE EXTERNAL TABLE IF NOT EXISTS d.t", "d.t", False, True, None),
    ("no-connection-lower-case", "create external table if not exists d.t", "d.t", False, True, None),
    ("multi-line-comments", MULTI_LINE, "d.t", True, False, "us.my-connection"),
]
# fmt: on


@pytest.mark.parametrize(
    ("head", "name", "replace", "if_not_exists", "connection"), [pytest.param(*c[1:], id=c[0]) for c in CREATES]
)
def test_create_spellings(head: str, name: str, replace: bool, if_not_exists: bool, connection: str | None):
    options = OPTS.replace(", ", ",  -- the files\n  ") if "\n" in head else OPTS
    for sql in (f"{head} {options}", f"SELECT 1;\n{head} {options};\nSELECT 2"):  # alone, and amid other statements
        statement = only(sql)
        assert isinstance(statement, CreateExternalTable)
        assert statement.name == Name(*name.split("."))
        assert (statement.replace, statement.if_not_exists) == (replace, if_not_exists)
        assert (statement.connection, statement.options) == (connection, SIMPLE)
        assert object_name(statement.table) == statement.name


def test_option_values():
    statement = only(
        "CREATE EXTERNAL TABLE d.t WITH CONNECTION DEFAULT OPTIONS(format = 'CSV', URIS = ['a', \"b\"], "
        "skip_leading_rows = 1, ratio = 0.5, big = 1e3, neg = -2, flag = TRUE, nothing = NULL, none_yet = [], "
        "max_staleness = INTERVAL 4 HOUR)"
    )
    assert isinstance(statement, CreateExternalTable)
    staleness = statement.options.pop("max_staleness")
    assert isinstance(staleness, exp.Interval) and staleness.sql("bigquery") == "INTERVAL '4' HOUR"
    assert statement.options == {
        **{"format": "CSV", "uris": ["a", "b"], "skip_leading_rows": 1, "ratio": 0.5, "big": 1000.0, "neg": -2},
        **{"flag": True, "nothing": None, "none_yet": []},
    }


def test_empty_options():
    statement = only("CREATE EXTERNAL TABLE d.t WITH CONNECTION DEFAULT OPTIONS()")
    assert isinstance(statement, CreateExternalTable) and statement.options == {}


@pytest.mark.parametrize("connection", ["WITH CONNECTION DEFAULT ", ""])
def test_table_keeps_its_position_in_the_script(connection: str):
    statement = only(f"SELECT 1;\nSELECT 2; CREATE EXTERNAL TABLE\n  `p.d.t` {connection}{OPTS}")
    assert isinstance(statement, CreateExternalTable)
    assert position(statement.table) == (3, 3)


DROPS = [
    ("plain", "DROP EXTERNAL TABLE d.t", False),
    ("if-exists", "DROP EXTERNAL TABLE IF EXISTS d.t", True),
    ("lower-case-backticked", "drop external table if exists `p.d.t`", True),
    ("backticked-prefix", "DROP EXTERNAL TABLE `p.d`.t", False),
    ("dashed-project", "DROP EXTERNAL TABLE my-project.d.t", False),
    ("comments", "DROP /* gone */ EXTERNAL\n  TABLE -- really\n  d.t", False),
]


@pytest.mark.parametrize(("sql", "exists"), [pytest.param(*d[1:], id=d[0]) for d in DROPS])
def test_drop_spellings(sql: str, exists: bool):
    for script in (sql, f"SELECT 1;\n{sql};\nSELECT 2"):
        drop = only(script)
        assert isinstance(drop, exp.Drop)
        assert drop.args["kind"] == "TABLE" and bool(drop.args.get("exists")) is exists
        (table,) = drop.args["tables"]
        assert object_name(table) == Name("d", "t")
        assert drop.sql("bigquery").startswith("DROP TABLE ")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "CREATE TABLE d.t (x INT64)",
        "CREATE TABLE d.t OPTIONS(description = 'x') AS SELECT 1 AS x",
        "CREATE TEMP FUNCTION f() AS (1)",
        "CREATE SCHEMA d",
        "DROP TABLE d.t",
        "DROP SCHEMA IF EXISTS d",
        "CREATE OR REPLACE MODEL d.m OPTIONS(model_type = 'TENSORFLOW', model_path = 'gs://b/m/*')",
    ],
)
def test_other_statements_are_not_ours(sql: str):
    assert read(sql) == [None]


# (id, statement, message, line, column): the statement follows "SELECT 1;\n", so it starts on line 2.
# fmt: off
ERRORS = [
    ("missing-options", "CREATE EXTERNAL TABLE d.t WITH CONNECTION DEFAULT",
     "expected OPTIONS(...) but got end of statement", 2, 50),
    ("missing-options-no-connection", "CREATE EXTERNAL TABLE d.t",
     "expected WITH CONNECTION or OPTIONS(...) but got end of statement", 2, 26),
    ("options-without-parenthesis", "CREATE EXTERNAL TABLE d.t WITH CONNECTION DEFAULT OPTIONS a = 1",
     "expected ( after OPTIONS but got 'a'", 2, 59),
    ("unclosed-options", "CREATE EXTERNAL TABLE d.t WITH CONNECTION DEFAULT OPTIONS(a = (1)",
     "expected ) to close OPTIONS( but got end of statement", 2, 66),
    ("garbage-after-options", "CREATE EXTERNAL TABLE d.t WITH CONNECTION DEFAULT OPTIONS(a = 1) garbage",
     "expected end of statement after OPTIONS(...) but got 'garbage'", 2, 66),
    ("garbage-after-options-no-connection", "CREATE EXTERNAL TABLE d.t OPTIONS(a = 1) AS SELECT 1",
     "expected end of statement after OPTIONS(...) but got 'AS'", 2, 42),
    ("options-twice", "CREATE EXTERNAL TABLE d.t OPTIONS(a = 1) OPTIONS(b = 2)",
     "expected end of statement after OPTIONS(...) but got 'OPTIONS'", 2, 42),
    ("connection-missing", "CREATE EXTERNAL TABLE d.t WITH CONNECTION",
     "expected a connection name or DEFAULT but got end of statement", 2, 42),
    ("connection-missing-before-options", "CREATE EXTERNAL TABLE d.t WITH CONNECTION OPTIONS(a = 1)",
     "expected a connection name or DEFAULT but got 'OPTIONS'", 2, 43),
    ("with-not-connection", "CREATE EXTERNAL TABLE d.t WITH PARTITION COLUMNS OPTIONS(a = 1)",
     "expected CONNECTION after WITH but got 'PARTITION'", 2, 32),
    ("replace-and-if-not-exists",
     "CREATE OR REPLACE EXTERNAL TABLE IF NOT EXISTS d.t WITH CONNECTION DEFAULT OPTIONS(a = 1)",
     "OR REPLACE and IF NOT EXISTS cannot be used together", 2, 34),
    ("replace-and-if-not-exists-no-connection", "create or replace external table if not exists d.t options(a = 1)",
     "OR REPLACE and IF NOT EXISTS cannot be used together", 2, 34),
    ("option-not-constant", "CREATE EXTERNAL TABLE d.t WITH CONNECTION DEFAULT OPTIONS(uris = foo)",
     f"the value of option uris {NOT_CONSTANT}, not 'foo'", 2, 66),
    ("option-not-constant-no-connection", "CREATE EXTERNAL TABLE d.t OPTIONS(a = 1,\n  uris = CONCAT('gs://', 'b'))",
     f"the value of option uris {NOT_CONSTANT}, not \"CONCAT('gs://', 'b')\"", 3, 10),
    ("option-array-not-constant", "CREATE EXTERNAL TABLE d.t WITH CONNECTION DEFAULT OPTIONS(uris = ['a', x])",
     f"the value of option uris {NOT_CONSTANT}, not 'x'", 2, 66),
    ("option-without-value", "CREATE EXTERNAL TABLE d.t WITH CONNECTION DEFAULT OPTIONS(uris = )",
     "expected a value for option uris but got ')'", 2, 66),
    ("column-list", "CREATE EXTERNAL TABLE d.t (x INT64) WITH CONNECTION DEFAULT OPTIONS(a = 1)",
     "expected WITH CONNECTION or OPTIONS(...) but got '('", 2, 27),
    ("unqualified-name", "CREATE EXTERNAL TABLE t WITH CONNECTION DEFAULT OPTIONS(a = 1)",
     'Table "t" must be qualified with a dataset', 2, 23),
    ("temp", "CREATE TEMP EXTERNAL TABLE d.t OPTIONS(a = 1)",
     "expected CREATE [OR REPLACE] EXTERNAL TABLE but got 'TEMP'", 2, 8),
    ("drop-garbage", "DROP EXTERNAL TABLE d.t CASCADE", "expected end of statement but got 'CASCADE'", 2, 25),
    ("drop-without-name", "DROP EXTERNAL TABLE", "expected a table name but got end of statement", 2, 20),
    ("drop-same-line", "SELECT 2; DROP EXTERNAL TABLE IF EXISTS",
     "expected a table name but got end of statement", 2, 40),
]
# fmt: on


@pytest.mark.parametrize(("sql", "message", "line", "column"), [pytest.param(*e[1:], id=e[0]) for e in ERRORS])
def test_errors(sql: str, message: str, line: int, column: int):
    with pytest.raises(SQLError) as raised:
        read(f"SELECT 1;\n{sql}")
    assert message in str(raised.value)
    assert (raised.value.line, raised.value.column) == (line, column)


def test_error_positions_without_the_script_are_relative_to_the_statement():
    sql = "SELECT 1;\n  CREATE EXTERNAL TABLE d.t WITH CONNECTION DEFAULT OPTIONS(a = 1) garbage"
    with pytest.raises(SQLError, match="but got 'garbage'") as raised:
        read(sql, script=False)
    assert (raised.value.line, raised.value.column) == (1, 66)


def test_native_create_without_the_script_has_no_position():
    with pytest.raises(SQLError, match="OR REPLACE and IF NOT EXISTS") as raised:
        read("SELECT 1;\nCREATE OR REPLACE EXTERNAL TABLE IF NOT EXISTS d.t OPTIONS(a = 1)", script=False)
    assert (raised.value.line, raised.value.column) == (None, None)


def test_identical_statements_fail_at_the_first():
    bad = "CREATE EXTERNAL TABLE d.t WITH CONNECTION DEFAULT OPTIONS(a = x)"
    with pytest.raises(SQLError) as raised:
        read(f"SELECT 1;\n{bad};\n{bad}")
    assert (raised.value.line, raised.value.column) == (2, 63)


# fmt: off
UNTERMINATED = [
    ("backtick", "CREATE EXTERNAL TABLE `d.t WITH CONNECTION DEFAULT OPTIONS(a = 1)",
     "unterminated backtick-quoted name", 2, 23),
    ("backtick-connection", "CREATE EXTERNAL TABLE d.t WITH CONNECTION `us.conn OPTIONS(a = 1)",
     "unterminated backtick-quoted name", 2, 43),
    ("string", "CREATE EXTERNAL TABLE d.t OPTIONS(uris = ['gs://b/*])", "unterminated string", 2, 43),
]
# fmt: on


@pytest.mark.parametrize(("sql", "message", "line", "column"), [pytest.param(*u[1:], id=u[0]) for u in UNTERMINATED])
def test_unterminated_quotes(sql: str, message: str, line: int, column: int):
    """sqlglot's tokenizer rejects the whole script, with no position, before any statement exists:
    ``tokenize`` (for the engine's TokenError path) says where the quote opens."""
    sql = f"SELECT 1;\n{sql}"
    with pytest.raises(TokenError):
        sqlglot.parse(sql, read="bigquery")
    with pytest.raises(SQLError, match=message) as raised:
        tokenize(sql)
    assert (raised.value.line, raised.value.column) == (line, column)


def test_comments_around_semicolons_keep_positions():
    sql = "SELECT 1; -- one\n/* two */ CREATE EXTERNAL TABLE d.t WITH CONNECTION DEFAULT; -- three"
    with pytest.raises(SQLError, match="expected OPTIONS") as raised:
        read(sql)
    assert (raised.value.line, raised.value.column) == (2, 60)
