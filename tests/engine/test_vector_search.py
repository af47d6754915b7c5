"""VECTOR_SEARCH and vector indexes through SQL (docs/behaviour.md#vector-search)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bqml_magic import Engine
from bqml_magic.catalog.vector_indexes import VectorIndexes
from bqml_magic.errors import AlreadyExistsError, BQMLError, NotFoundError, SQLError

ROWS, WIDTH = 400, 8
MAKE_BASE = f"""CREATE OR REPLACE TABLE d.items AS
SELECT i AS id, CONCAT('item', CAST(i AS STRING)) AS name,
       ARRAY(SELECT SIN(i * 7.1 + j * 1.3) + 0.1 * j FROM UNNEST(GENERATE_ARRAY(0, {WIDTH - 1})) AS j) AS emb
FROM UNNEST(GENERATE_ARRAY(0, {ROWS - 1})) AS i"""
MAKE_QUERIES = f"""CREATE OR REPLACE TABLE d.wanted AS
SELECT i AS qid, ARRAY(SELECT COS(i * 3.7 + j) FROM UNNEST(GENERATE_ARRAY(0, {WIDTH - 1})) AS j) AS vec
FROM UNNEST(GENERATE_ARRAY(0, 5)) AS i"""
TABLES = "TABLE d.items, 'emb', TABLE d.wanted, 'vec'"
"""VECTOR_SEARCH's first arguments: the base, its column, the queries and theirs."""
SEARCH = f"SELECT query.qid, base.id, distance FROM VECTOR_SEARCH({TABLES}, top_k => {{k}}{{more}})"
DISTANCES = ["EUCLIDEAN", "COSINE", "DOT_PRODUCT"]


@pytest.fixture
def vectors(tmp_path: Path) -> Engine:
    engine = Engine(workspace=tmp_path / "ws")
    engine.query(f"CREATE SCHEMA d; {MAKE_BASE}; {MAKE_QUERIES}")
    yield engine
    engine.close()


def numpy_nearest(engine: Engine, kind: str, k: int) -> pd.DataFrame:
    """The plainest brute force over the tables' values."""
    base = engine.query("SELECT id, emb FROM d.items")
    queries = engine.query("SELECT qid, vec FROM d.wanted ORDER BY qid")
    b, q = np.stack(base.emb.to_numpy()), np.stack(queries.vec.to_numpy())
    if kind == "EUCLIDEAN":
        d = np.sqrt(((q[:, None] - b[None]) ** 2).sum(-1))
    elif kind == "COSINE":
        d = 1 - (q @ b.T) / np.outer(np.linalg.norm(q, axis=1), np.linalg.norm(b, axis=1))
    else:
        d = -(q @ b.T)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return pd.DataFrame(
        {
            "qid": np.repeat(queries.qid.to_numpy(), k),
            "id": base.id.to_numpy()[order].reshape(-1),
            "distance": np.take_along_axis(d, order, 1).reshape(-1),
        }
    )


def same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert got[["qid", "id"]].astype("int64").values.tolist() == expected[["qid", "id"]].values.tolist()
    np.testing.assert_allclose(got.distance.to_numpy(), expected.distance.to_numpy(), rtol=1e-12, atol=1e-12)


def searches_by_index(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the indexes searches go through, as they happen."""
    used: list[str] = []
    search = VectorIndexes.search

    def spy(self, index, *args):
        used.append(index.name)
        return search(self, index, *args)

    monkeypatch.setattr(VectorIndexes, "search", spy)
    return used


@pytest.mark.parametrize("kind", DISTANCES)
def test_brute_force_equals_numpy_for_each_distance(vectors: Engine, kind):
    got = vectors.query(SEARCH.format(k=4, more=f", distance_type => '{kind}'"))
    same(got, numpy_nearest(vectors, kind, 4))


@pytest.mark.parametrize("kind", DISTANCES)
def test_an_index_of_each_distance_answers_as_brute_force(vectors: Engine, kind, monkeypatch):
    used = searches_by_index(monkeypatch)
    vectors.query(
        f"CREATE VECTOR INDEX by_{kind} ON d.items(emb) OPTIONS(index_type = 'IVF', distance_type = '{kind}')"
    )
    got = vectors.query(SEARCH.format(k=4, more=f", distance_type => '{kind}'"))
    assert used == [f"by_{kind}"]
    same(got, numpy_nearest(vectors, kind, 4))


def test_the_output_is_query_and_base_structs_and_a_distance(vectors: Engine):
    frame = vectors.query("SELECT * FROM VECTOR_SEARCH(TABLE d.items, 'emb', TABLE d.wanted, 'vec', top_k => 2)")
    assert list(frame.columns) == ["query", "base", "distance"] and len(frame) == 12
    assert set(frame["query"][0]) == {"qid", "vec"} and set(frame["base"][0]) == {"id", "name", "emb"}
    assert frame["base"][0]["name"] == f"item{frame['base'][0]['id']}" and len(frame["base"][0]["emb"]) == WIDTH
    assert frame.distance.dtype == np.float64
    fields = vectors.query(
        "SELECT base.name, query.qid FROM VECTOR_SEARCH(TABLE d.items, 'emb', TABLE d.wanted, 'vec')"
    )
    assert list(fields.columns) == ["name", "qid"] and len(fields) == 60  # top_k defaults to 10


def test_queries_base_subqueries_and_the_named_query_column(vectors: Engine):
    sql = """SELECT query.label, base.id, distance FROM VECTOR_SEARCH(
        (SELECT * FROM d.items WHERE MOD(id, 2) = 0), 'emb',
        (SELECT 'mine' AS label, emb AS probe FROM d.items WHERE id = 7),
        query_column_to_search => 'probe', top_k => 3) ORDER BY distance"""
    frame = vectors.query(sql)
    assert frame.label.tolist() == ["mine"] * 3 and (frame.id % 2 == 0).all() and frame.distance.is_monotonic_increasing
    seven = "(SELECT emb FROM d.items WHERE id = 7)"
    own = vectors.query(f"SELECT base.id, distance FROM VECTOR_SEARCH(TABLE d.items, 'emb', {seven}, top_k => 1)")
    assert own.values.tolist() == [[7, 0.0]]  # the query column defaults to the searched column's name


def test_the_search_is_a_table_to_join_filter_and_aggregate(vectors: Engine):
    sql = """WITH hits AS (
        SELECT query.qid, base.id, distance FROM VECTOR_SEARCH(TABLE d.items, 'emb', TABLE d.wanted, 'vec', top_k => 3))
      SELECT h.qid, COUNT(*) AS n, MIN(i.name) AS first_name
      FROM hits AS h JOIN d.items AS i ON i.id = h.id
      GROUP BY h.qid ORDER BY h.qid"""
    frame = vectors.query(sql)
    assert frame.n.tolist() == [3] * 6 and frame.first_name.str.startswith("item").all()


def test_an_index_is_used_for_its_distance_unless_brute_force_is_asked(vectors: Engine, monkeypatch):
    used = searches_by_index(monkeypatch)
    vectors.query("CREATE VECTOR INDEX cos ON d.items(emb) OPTIONS(index_type = 'TREE_AH', distance_type = 'COSINE')")
    vectors.query(SEARCH.format(k=2, more=", distance_type => 'EUCLIDEAN'"))  # not the index's distance
    vectors.query(SEARCH.format(k=2, more=", distance_type => 'COSINE', options => '{\"use_brute_force\": true}'"))
    vectors.query(
        "SELECT * FROM VECTOR_SEARCH((SELECT * FROM d.items), 'emb', TABLE d.wanted, 'vec', distance_type => 'COSINE')"
    )
    assert used == []
    vectors.query(
        SEARCH.format(k=2, more=", distance_type => 'COSINE', options => '{\"fraction_lists_to_search\": 0.5}'")
    )
    cosine = vectors.query(SEARCH.format(k=2, more=""))  # no distance named: the index's [doc]
    assert used == ["cos", "cos"]
    same(cosine, numpy_nearest(vectors, "COSINE", 2))


def test_an_index_follows_dml_and_replacement(vectors: Engine, monkeypatch):
    used = searches_by_index(monkeypatch)
    vectors.query("CREATE VECTOR INDEX idx ON d.items(emb) OPTIONS(index_type = 'IVF')")
    probe = f"(SELECT ARRAY(SELECT 50.0 FROM UNNEST(GENERATE_ARRAY(1, {WIDTH}))) AS emb)"
    nearest = f"SELECT base.id, base.name FROM VECTOR_SEARCH(TABLE d.items, 'emb', {probe}, top_k => 1)"
    assert vectors.query(nearest).id.tolist() != [1000]
    far = f"ARRAY(SELECT 50.0 FROM UNNEST(GENERATE_ARRAY(1, {WIDTH})))"
    vectors.query(f"INSERT INTO d.items (id, name, emb) SELECT 1000, 'far', {far}")
    coverage = "SELECT coverage_percentage, indexed_row_count FROM d.INFORMATION_SCHEMA.VECTOR_INDEXES"
    assert vectors.query(coverage).values.tolist() == [[0, 0]]  # changed: rebuilt at the next search
    assert vectors.query(nearest).values.tolist() == [[1000, "far"]]
    assert vectors.query(coverage).values.tolist() == [[100, ROWS + 1]]
    vectors.query("UPDATE d.items SET name = 'moved' WHERE id = 1000")
    assert vectors.query(nearest).values.tolist() == [[1000, "moved"]]
    vectors.query("DELETE FROM d.items WHERE id = 1000")
    assert vectors.query(nearest).id.tolist() != [1000]
    vectors.query(f"{MAKE_BASE} LIMIT 10")  # replaced: the index follows the new rows
    assert vectors.query(coverage).values.tolist() == [[0, 0]]
    assert len(vectors.query(SEARCH.format(k=50, more=""))) == 6 * 10
    assert used == ["idx"] * 5
    vectors.query("CREATE OR REPLACE TABLE d.items AS SELECT 1 AS id")  # no column left to index
    assert vectors.query("SELECT * FROM d.INFORMATION_SCHEMA.VECTOR_INDEXES").empty


def test_dropping_the_table_or_dataset_drops_its_indexes(vectors: Engine):
    index = "CREATE VECTOR INDEX idx ON d.items(emb) OPTIONS(index_type = 'IVF')"
    listed = "SELECT table_name, index_name FROM `region-us`.INFORMATION_SCHEMA.VECTOR_INDEXES"
    vectors.query(index)
    assert vectors.query(listed).values.tolist() == [["items", "idx"]]
    vectors.query("DROP TABLE d.items")
    assert vectors.query(listed).empty
    vectors.query(f"{MAKE_BASE}; {index}; DROP SCHEMA d CASCADE")
    assert vectors.query(listed).empty
    snapshots = (
        "SELECT COUNT(*) FROM duckdb_tables() WHERE schema_name = '__bqml' AND starts_with(table_name, 'vector_index_')"
    )
    assert vectors._services.con.sql(snapshots).fetchall() == [(0,)]


def test_create_and_drop_forms(vectors: Engine):
    options = "OPTIONS(index_type = 'IVF', ivf_options = '{\"num_lists\": 50}')"
    create = f"CREATE VECTOR INDEX idx ON d.items(emb) STORING(name) {options}"
    vectors.query(create)
    with pytest.raises(AlreadyExistsError, match=r"Vector index idx on table d\.items"):
        vectors.query(create)
    vectors.query(create.replace("INDEX idx", "INDEX IF NOT EXISTS idx"))
    vectors.query(create.replace("CREATE", "CREATE OR REPLACE").replace("'IVF'", "'TREE_AH'"))
    row = vectors.query("SELECT * FROM d.INFORMATION_SCHEMA.VECTOR_INDEXES")
    assert row.values.tolist()[0][:5] == ["bqml-local", "d", "items", "idx", "ACTIVE"] and "TREE_AH" in row.ddl[0]
    assert row.indexed_row_count[0] == ROWS and row.coverage_percentage[0] == 100 and row.total_storage_bytes[0] > 0
    vectors.query("DROP VECTOR INDEX idx ON d.items")
    vectors.query("DROP VECTOR INDEX IF EXISTS idx ON d.items")
    with pytest.raises(NotFoundError, match=r"Vector index idx on table d\.items"):
        vectors.query("DROP VECTOR INDEX idx ON d.items")


@pytest.mark.parametrize(
    ("sql", "error", "message"),
    [
        (
            "CREATE VECTOR INDEX i ON d.nope(emb) OPTIONS(index_type = 'IVF')",
            NotFoundError,
            r"Table d.nope .*\[at 1:26\]",
        ),
        (
            "CREATE VECTOR INDEX i ON d.items(nope) OPTIONS(index_type = 'IVF')",
            SQLError,
            "no column 'nope'; its columns: id, name, emb",
        ),
        (
            "CREATE VECTOR INDEX i ON d.items(name) OPTIONS(index_type = 'IVF')",
            SQLError,
            "'name' of d.items is not an ARRAY of numbers",
        ),
        (
            "CREATE VECTOR INDEX i ON d.items(emb) OPTIONS(distance_type = 'COSINE')",
            SQLError,
            "index_type must be one of 'IVF', 'TREE_AH'",
        ),
        (
            "CREATE VECTOR INDEX i ON d.items(emb) OPTIONS(index_type = 'IVF', distance_type = 'L1')",
            SQLError,
            "distance_type must be one of",
        ),
        (
            "CREATE VECTOR INDEX i ON d.items(emb) OPTIONS(index_type = 'IVF', colour = 'red')",
            SQLError,
            "unknown option colour",
        ),
        (
            "CREATE VECTOR INDEX i ON d.items(emb) OPTIONS(index_type = 'IVF', ivf_options = 'x')",
            SQLError,
            "ivf_options must be a JSON object",
        ),
        (
            "CREATE VECTOR INDEX i ON d.items(emb) STORING(nope) OPTIONS(index_type = 'IVF')",
            SQLError,
            "no column 'nope' to store",
        ),
        (
            "CREATE VIEW d.v AS SELECT * FROM d.items; CREATE VECTOR INDEX i ON d.v(emb) OPTIONS(index_type = 'IVF')",
            SQLError,
            "d.v is a view",
        ),
        ("CREATE VECTOR INDEX i ON d.items(emb)", SQLError, r"expected OPTIONS\(index_type = ...\)"),
        (
            "CREATE OR REPLACE VECTOR INDEX IF NOT EXISTS i ON d.items(emb) OPTIONS(index_type = 'IVF')",
            SQLError,
            "cannot be used together",
        ),
        ("DROP VECTOR INDEX i ON d.items", NotFoundError, "Vector index i on table d.items"),
        ("DROP VECTOR INDEX i", SQLError, "expected ON after the index name"),
    ],
)
def test_index_statement_errors(vectors: Engine, sql, error, message):
    with pytest.raises(error, match=message):
        vectors.query(sql)
    assert vectors.query("SELECT * FROM d.INFORMATION_SCHEMA.VECTOR_INDEXES").empty


@pytest.mark.parametrize(
    ("search", "message"),
    [
        (
            "TABLE d.items, 'nope', TABLE d.wanted, 'vec'",
            r"the base table has no column 'nope'; its columns: id, name, emb \[at 1:44\]",
        ),
        (
            "TABLE d.items, 'emb', TABLE d.wanted",
            r"the query table has no column 'emb'; its columns: qid, vec \[at 1:44\]",
        ),
        ("TABLE d.items, 'name', TABLE d.wanted, 'vec'", "column 'name' of the base table must be an ARRAY of numbers"),
        (
            "TABLE d.items, 'emb', (SELECT [1.0, 2.0] AS emb)",
            "has 8 values in row 1, where the vectors searched have 2",
        ),
        (
            "TABLE d.items, 'emb', (SELECT CAST(NULL AS ARRAY<FLOAT64>) AS emb)",
            "column 'emb' of the query table is NULL in row 1",
        ),
        ("TABLE d.items, 'emb', (SELECT ARRAY<FLOAT64>[] AS emb)", "is an empty array in row 1"),
        ("TABLE d.items, 'emb', TABLE d.wanted, 'vec', top_k => 0", "top_k must be a positive INT64 literal, got 0"),
        ("TABLE d.items, 'emb', TABLE d.wanted, 'vec', distance_type => 'MANHATTAN'", "distance_type must be one of"),
        ("TABLE d.items, 'emb', TABLE d.wanted, 'vec', options => '{bad'", "options is not valid JSON"),
        ("TABLE d.items, 'emb', TABLE d.wanted, 'vec', options => '{\"speed\": 1}'", "unknown option 'speed'"),
        (
            "TABLE d.items, 'emb', TABLE d.wanted, 'vec', options => '{\"use_brute_force\": 1}'",
            "use_brute_force must be true or false",
        ),
        (
            "TABLE d.items, 'emb', TABLE d.wanted, 'vec', options => '{\"fraction_lists_to_search\": 2}'",
            r"must be a number in \[0, 1\]",
        ),
        ("TABLE d.nope, 'emb', TABLE d.wanted, 'vec'", "Table d.nope was not found"),
    ],
)
def test_search_errors(vectors: Engine, search, message):
    with pytest.raises(BQMLError, match=message):
        vectors.query(f"SELECT * FROM VECTOR_SEARCH({search})")


def test_a_base_row_without_a_vector_is_an_error_naming_it(vectors: Engine):
    vectors.query("INSERT INTO d.items (id, name, emb) VALUES (9999, 'empty', [])")
    with pytest.raises(SQLError, match=r"column 'emb' of the base table is an empty array in row 401"):
        vectors.query(SEARCH.format(k=1, more=""))


def test_a_failed_build_leaves_nothing_and_a_failed_rebuild_keeps_the_index(vectors: Engine):
    vectors.query("INSERT INTO d.items (id, name, emb) VALUES (9999, 'null', NULL)")
    with pytest.raises(SQLError, match=r"CREATE VECTOR INDEX: column 'emb' of d.items is NULL in row 401"):
        vectors.query("CREATE VECTOR INDEX idx ON d.items(emb) OPTIONS(index_type = 'IVF')")
    assert vectors.query("SELECT * FROM d.INFORMATION_SCHEMA.VECTOR_INDEXES").empty
    vectors.query(
        "DELETE FROM d.items WHERE id = 9999; CREATE VECTOR INDEX idx ON d.items(emb) OPTIONS(index_type = 'IVF')"
    )
    vectors.query("INSERT INTO d.items (id, name, emb) VALUES (9999, 'null', NULL)")
    with pytest.raises(SQLError, match="is NULL in row 401"):
        vectors.query(SEARCH.format(k=1, more=""))
    vectors.query("DELETE FROM d.items WHERE id = 9999")
    same(vectors.query(SEARCH.format(k=3, more="")), numpy_nearest(vectors, "EUCLIDEAN", 3))


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (f"CREATE VIEW d.v AS SELECT * FROM VECTOR_SEARCH({TABLES})", "VECTOR_SEARCH inside a view"),
        (f"UPDATE d.items SET name = 'x' WHERE id IN (SELECT base.id FROM VECTOR_SEARCH({TABLES}))", "in UPDATE"),
        (f"CREATE FUNCTION d.f() AS ((SELECT COUNT(*) FROM VECTOR_SEARCH({TABLES})))", "inside a function"),
    ],
)
def test_where_a_search_cannot_be_stored_it_is_refused(vectors: Engine, sql, message):
    with pytest.raises(SQLError, match=message):
        vectors.query(sql)


def test_insert_and_create_table_as_keep_search_results(vectors: Engine):
    vectors.query(f"CREATE TABLE d.hits AS {SEARCH.format(k=2, more='')}")
    vectors.query(f"INSERT INTO d.hits {SEARCH.format(k=1, more='')}")
    assert vectors.query("SELECT COUNT(*) AS n FROM d.hits").n[0] == 18


def test_an_index_persists_across_processes(vectors: Engine, tmp_path: Path):
    vectors.query("CREATE VECTOR INDEX idx ON d.items(emb) OPTIONS(index_type = 'IVF', distance_type = 'COSINE')")
    expected = vectors.query(SEARCH.format(k=3, more=", distance_type => 'COSINE'"))
    vectors.close()
    script = textwrap.dedent(
        f"""
        import json
        from bqml_magic import Engine
        from bqml_magic.catalog.vector_indexes import VectorIndexes

        def no_rebuild(*args):
            raise AssertionError("the index was rebuilt, not loaded")

        VectorIndexes._build = no_rebuild
        engine = Engine(workspace={str(tmp_path / "ws")!r})
        frame = engine.query({SEARCH.format(k=3, more=", distance_type => 'COSINE'")!r})
        print(json.dumps(frame.astype({{"qid": "int64", "id": "int64"}}).values.tolist()))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    import json

    assert json.loads(done.stdout) == expected.astype({"qid": "int64", "id": "int64"}).values.tolist()


def test_a_dry_run_checks_the_searched_tables(vectors: Engine):
    report = vectors.dry_run("SELECT * FROM VECTOR_SEARCH(TABLE d.items, 'emb', TABLE d.wanted, 'vec')")
    assert "1. QUERY" in report.summary()
    with pytest.raises(NotFoundError, match=r"Table d.missing was not found.*\[at 1:57\]"):
        vectors.dry_run("SELECT * FROM VECTOR_SEARCH(TABLE d.items, 'emb', TABLE d.missing, 'vec')")
