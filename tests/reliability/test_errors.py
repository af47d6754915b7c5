"""Every failure is a BQMLError that says what and where: wrong argument types, interrupts, a
workspace opened twice, errors inside CREATE TABLE AS; DuckDB's own file access is locked."""

from __future__ import annotations

import threading
import time

import pytest

from bqml_magic import Engine
from bqml_magic.errors import BQMLError, Cancelled, ImageError, SQLError
from bqml_magic.storage.objects import ObjectStore

TABLE = "my_dataset.object_table"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (f"SELECT ML.DECODE_IMAGE(uri) AS i FROM {TABLE}", r"ML.DECODE_IMAGE expects BYTES, got STRING 'gs://"),
        (
            f"SELECT ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 'a', 2, FALSE) AS i FROM {TABLE} WHERE uri LIKE '%.jpg'",
            r"ML.RESIZE_IMAGE expects INT64, got STRING 'a'",
        ),
        (
            f"SELECT ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 2, 2, 'yes') AS i FROM {TABLE} WHERE uri LIKE '%.jpg'",
            r"ML.RESIZE_IMAGE expects BOOL, got STRING 'yes'",
        ),
        (f"CREATE TABLE my_dataset.c AS SELECT ML.DECODE_IMAGE(uri) AS i FROM {TABLE}", r"expects BYTES, got STRING"),
    ],
)
def test_wrong_argument_types_say_which_function_and_type(engine, sql, message):
    with pytest.raises(SQLError, match=message) as caught:
        engine.query(sql)
    assert "Traceback" not in str(caught.value) and "<class" not in str(caught.value)


@pytest.mark.parametrize(
    "where",
    [
        "ARRAY_LENGTH(ML.DECODE_IMAGE(data).dimensions) = 3",
        "uri IN (SELECT uri FROM my_dataset.object_table WHERE ARRAY_LENGTH(ML.DECODE_IMAGE(data).dimensions) = 3)",
    ],
)
def test_image_errors_name_the_object_in_where_clauses_too(engine, where):
    with pytest.raises(ImageError, match="could not be decoded") as caught:
        engine.query(f"SELECT uri FROM {TABLE} WHERE {where}")
    assert caught.value.uri == "gs://my_bucket/notes.txt"
    assert caught.value.function == "ML.DECODE_IMAGE"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM read_blob('/etc/hostname')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM glob('/etc/*')",
        "SELECT * FROM '/etc/passwd'",
    ],
)
def test_duckdb_file_functions_read_nothing(engine, sql):
    with pytest.raises(BQMLError) as caught:
        engine.query(sql)
    assert "root:" not in str(caught.value)


def test_duckdb_settings_are_locked(engine):
    """Even if SQL reached DuckDB as written, it could not turn file access back on."""
    con = engine._services.con
    assert con.execute("SELECT current_setting('enable_external_access')").fetchone() == (False,)
    with pytest.raises(Exception, match=r"configuration has been locked|Cannot change"):
        con.execute("SET enable_external_access = true")


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT ML.DECODE_IMAGE(data) AS image FROM {TABLE}",
        f"SELECT uri FROM {TABLE} WHERE ARRAY_LENGTH(ML.DECODE_IMAGE(data).dimensions) = 3",
        f"SELECT uri, md5_hash FROM {TABLE}",
        "SELECT score FROM ML.PREDICT(MODEL my_dataset.scorer, (SELECT 0.5 AS bias, "
        f"ML.RESIZE_IMAGE(ML.DECODE_IMAGE(data), 8, 8, FALSE) AS image FROM {TABLE}))",
    ],
)
def test_an_interrupt_stops_a_query_whose_read_is_stuck(scorer, monkeypatch, sql):
    """A read that never returns (a hung network mount) does not hold the query: it is abandoned."""
    release = threading.Event()
    original = ObjectStore.read

    def stuck(self: ObjectStore, uri: str) -> bytes:
        release.wait(60)
        return original(self, uri)

    monkeypatch.setattr(ObjectStore, "read", stuck)
    monkeypatch.setattr(ObjectStore, "md5", lambda self, uri, generation: stuck(self, uri) and "x")
    outcome: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture(scorer, sql, outcome))
    worker.start()
    time.sleep(0.5)
    scorer.interrupt()
    worker.join(10)
    release.set()
    assert not worker.is_alive(), "the query did not stop"
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)


def _capture(engine: Engine, sql: str, outcome: list[BaseException]) -> None:
    try:
        engine.query(sql)
    except BaseException as exc:
        outcome.append(exc)


def test_an_engine_still_works_after_an_interrupt(engine):
    engine.interrupt()
    assert len(engine.query(f"SELECT uri FROM {TABLE}")) == 3


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            f"SELECT *, size AS uri FROM {TABLE}",
            r"Duplicate column names in the result are not supported. Found duplicate\(s\): uri",
        ),
        ("CALL BQ.REFRESH_EXTERNAL_METADATA_CACHE('my_dataset/*object_table')", r"Invalid table name"),
        (
            "CREATE EXTERNAL TABLE my_dataset.x OPTIONS(object_metadata = 'SIMPLE', uris = ['gs://my_bucket/*'], "
            "max_staleness = INTERVAL ? DAY, metadata_cache_mode = 'MANUAL')",
            r"Cannot read max_staleness INTERVAL",
        ),
        ("SELECT uri FROM my_dataset.object_table\nWHERE size > @smallest", r"not given: @smallest \[at 2:7\]"),
    ],
)
def test_what_fuzzing_found_are_sql_errors(engine, sql, message):
    with pytest.raises(SQLError, match=message):
        engine.query(sql)


def test_api_names_are_checked_like_sql_names(engine):
    with pytest.raises(SQLError, match="Invalid model name"):
        engine.describe_model("my_dataset.'oops")
