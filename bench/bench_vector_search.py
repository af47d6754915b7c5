"""VECTOR_SEARCH's queries/s: brute force, the index, and the ML.DISTANCE self-join, side by side.

    python3 tasks.py bench vector_search [--rows 100000] [--width 1024] [--queries 100] [--top_k 10]

Base: ``--rows`` random vectors (each value standard normal), ``--width`` wide; ``--queries``
more as the query table. Random vectors are the hardest case for an approximate index: no
clusters to follow, every point nearly as far as every other. Each figure is the median of
``--repeats`` runs, configurations alternating, in one process on this machine:

  - batched: one statement searching all queries at once (brute force, then the index);
  - one query per statement, as a notebook asks "the photos most like this one" (the index on
    every query; brute force on ``--single_queries`` of them, each reading the whole base);
  - the self-join BigQuery users write without VECTOR_SEARCH: ``ML.DISTANCE`` of every pair
    and ``ROW_NUMBER() OVER (PARTITION BY query ORDER BY distance)``, on ``--join_queries``
    queries against the whole base (too slow for all of them);
  - the index's recall@k against brute force, with the default breadth and with
    ``fraction_lists_to_search`` of each of ``--fractions``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import pandas as pd

from bqml_magic import Engine

CHUNK = 10_000
NORMAL = "SQRT(-2 * LN(1 - RAND())) * COS(2 * ACOS(-1) * RAND())"
SEARCH = """SELECT query.qid, base.id, distance
FROM VECTOR_SEARCH(TABLE d.base, 'embedding', {queries}, top_k => {top_k}{options})"""
SELF_JOIN = """SELECT qid, id, distance FROM (
  SELECT qid, id, distance, ROW_NUMBER() OVER (PARTITION BY qid ORDER BY distance) AS rank
  FROM (SELECT q.qid, b.id, ML.DISTANCE(q.embedding, b.embedding) AS distance
        FROM (SELECT * FROM d.queries WHERE qid <= {n}) AS q CROSS JOIN d.base AS b))
WHERE rank <= {top_k}"""


def random_table(engine: Engine, name: str, key: str, rows: int, width: int) -> None:
    """Made 10,000 rows a statement: a statement's intermediate rows stay within DuckDB's budget."""
    engine.query(f"CREATE TABLE d.{name} ({key} INT64, embedding ARRAY<FLOAT64>)")
    for first in range(1, rows + 1, CHUNK):
        last = min(rows, first + CHUNK - 1)
        engine.query(
            f"INSERT INTO d.{name} SELECT {key}, "
            f"ARRAY(SELECT {NORMAL} + 0 * {key} FROM UNNEST(GENERATE_ARRAY(1, {width}))) AS embedding "
            f"FROM UNNEST(GENERATE_ARRAY({first}, {last})) AS {key}"
        )


def timed(run: Callable[..., pd.DataFrame], *args: object) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    frame = run(*args)
    return time.perf_counter() - start, frame


def recall(found: pd.DataFrame, truth: pd.DataFrame) -> float:
    wanted = truth.groupby("qid").id.apply(set)
    got = found.groupby("qid").id.apply(set)
    return statistics.fmean(len(got.get(q, set()) & ids) / len(ids) for q, ids in wanted.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--top_k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--single_queries", type=int, default=5)
    parser.add_argument("--join_queries", type=int, default=2)
    parser.add_argument("--fractions", type=float, nargs="*", default=[0.005, 0.01, 0.05])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_vector_search_") as workspace:
        engine = Engine(workspace=workspace)
        engine.query("CREATE SCHEMA d")
        seconds, _ = timed(lambda: random_table(engine, "base", "id", args.rows, args.width))
        random_table(engine, "queries", "qid", args.queries, args.width)
        print(f"{args.rows:,} random vectors of {args.width}, {args.queries} queries, top_k {args.top_k}")
        print(f"  table made in {seconds:.1f} s")
        build, _ = timed(
            lambda: engine.query("CREATE VECTOR INDEX idx ON d.base(embedding) OPTIONS(index_type = 'IVF')")
        )
        print(f"  CREATE VECTOR INDEX: {build:.1f} s")
        all_queries = "TABLE d.queries"
        brute = ", options => '{\"use_brute_force\": true}'"

        def search(queries: str, options: str = "") -> pd.DataFrame:
            return engine.query(SEARCH.format(queries=queries, top_k=args.top_k, options=options))

        first, _ = timed(lambda: search("(SELECT * FROM d.queries WHERE qid = 1)"))
        print(f"  first indexed search (loads the graph): {first:.2f} s")

        batched: dict[str, list[float]] = {"brute force": [], "index": []}
        truth = found = pd.DataFrame()
        for _ in range(args.repeats):
            seconds, truth = timed(lambda: search(all_queries, brute))
            batched["brute force"].append(seconds)
            seconds, found = timed(lambda: search(all_queries))
            batched["index"].append(seconds)
        brute_qps = args.queries / statistics.median(batched["brute force"])
        index_qps = args.queries / statistics.median(batched["index"])
        print(f"\nbatched ({args.queries} queries in one statement), medians of {args.repeats}:")
        print(f"  brute force {brute_qps:8.1f} queries/s")
        print(
            f"  index       {index_qps:8.1f} queries/s  ({index_qps / brute_qps:.1f}x), recall@{args.top_k} "
            f"{recall(found, truth):.3f}"
        )

        def one(qid: int, options: str = "") -> pd.DataFrame:
            return search(f"(SELECT * FROM d.queries WHERE qid = {qid})", options)

        single: dict[str, list[float]] = {"brute force": [], "index": []}
        for qid in range(1, args.queries + 1):
            if qid <= args.single_queries:
                single["brute force"].append(timed(one, qid, brute)[0])
            single["index"].append(timed(one, qid)[0])
        one_brute = 1 / statistics.median(single["brute force"])
        one_index = 1 / statistics.median(single["index"])
        print("\none query per statement (median statement):")
        print(f"  brute force {one_brute:8.2f} queries/s  ({args.single_queries} statements)")
        print(f"  index       {one_index:8.2f} queries/s  ({args.queries} statements, {one_index / one_brute:.0f}x)")

        join_seconds, joined = timed(lambda: engine.query(SELF_JOIN.format(n=args.join_queries, top_k=args.top_k)))
        join_qps = args.join_queries / join_seconds
        exact = recall(joined, truth[truth.qid <= args.join_queries])
        print(f"\nML.DISTANCE self-join with ROW_NUMBER, {args.join_queries} queries x {args.rows:,} rows:")
        print(
            f"  {join_qps:.3f} queries/s (brute force VECTOR_SEARCH batched is {brute_qps / join_qps:.0f}x, "
            f"the index {index_qps / join_qps:.0f}x); recall@{args.top_k} {exact:.3f}"
        )

        print("\nthe index's breadth (batched; fraction_lists_to_search x rows candidates):")
        for fraction in args.fractions:
            options = f", options => '{{\"fraction_lists_to_search\": {fraction}}}'"
            seconds, found = timed(search, all_queries, options)
            qps, found_recall = args.queries / seconds, recall(found, truth)
            print(f"  {fraction:<6} {qps:8.1f} queries/s  recall@{args.top_k} {found_recall:.3f}")
        engine.close()


if __name__ == "__main__":
    main()
