"""``--dry_run``: check a script and say what it would do, without running models or decoding.

Like BigQuery's dry run it validates the SQL and every name; for a local engine it also
checks the files an object table would feed to ML functions (count, bytes, formats, the
20 MB per file and 1 TB total limits) and each ML.PREDICT's input contract (feature
columns present, image sizes that RESIZE will produce versus the model's fixed sizes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from bqml_magic.errors import ModelError
from bqml_magic.predict import feature_columns
from bqml_magic.query import QueryRunner
from bqml_magic.sql.names import Name, dataset_name, object_name
from bqml_magic.sql.parse import CreateExternalTable, parse_script
from bqml_magic.sql.plan import statement_kind
from bqml_magic.sql.translate import ml_arguments, ml_function, predict_input
from bqml_magic.storage.reader import MAX_INFERENCE_FILE_BYTES, MAX_INFERENCE_TOTAL_BYTES

IMAGE_TYPES = ("image/jpeg", "image/png", "image/bmp")


@dataclass
class DryRunReport:
    """One line per check, per statement; ``problems`` are what would fail or be refused."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    unchecked: int = 0
    """Checks left out because they need objects the script creates first."""

    def summary(self) -> str:
        if self.problems:
            verdict = "would fail:\n  " + "\n  ".join(self.problems)
        elif self.unchecked:
            verdict = (f"is valid as far as it can be checked before it runs ({self.unchecked} check(s) need "
                       "objects the script creates first)")
        else:
            verdict = "is valid"
        return "\n".join(self.lines + [f"The script {verdict}."])

    def __str__(self) -> str:
        return self.summary()


class _Created:
    """What earlier statements of the script create: nothing exists yet to check it against."""

    def __init__(self) -> None:
        self._keys: set[tuple[str, str | None]] = set()

    def add(self, kind: str, statement: Any) -> None:
        if kind == "CREATE_SCHEMA":
            self._keys.add((dataset_name(statement.this).lower(), None))
        elif isinstance(statement, CreateExternalTable):
            self._keys.add(statement.name.key)
        elif kind in ("CREATE_MODEL", "CREATE_TABLE", "CREATE_VIEW"):
            target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
            self._keys.add(object_name(target).key)

    def __contains__(self, name: Name) -> bool:
        return (name.dataset.lower(), None) in self._keys or name.key in self._keys


def dry_run(runner: QueryRunner, sql: str, params: dict[str, Any]) -> DryRunReport:
    report = DryRunReport()
    created = _Created()
    for number, statement in enumerate(parse_script(sql), 1):
        kind = statement_kind(statement)
        target = _target(statement)
        report.lines.append(f"{number}. {kind.replace('_', ' ')}{' ' + target if target else ''}")
        if isinstance(statement, exp.Expression) and statement.find(exp.Select):
            _check_query(runner, statement, params, report, created)
        created.add(kind, statement)
    return report


def _target(statement: Any) -> str:
    if isinstance(statement, CreateExternalTable):
        return str(statement.name)
    table = statement.this if isinstance(statement, exp.Create) else None
    if isinstance(table, exp.Schema):
        table = table.this
    return table.sql("bigquery") if isinstance(table, exp.Table) else ""


def _check_query(runner: QueryRunner, statement: exp.Expression, params: dict[str, Any], report: DryRunReport,
                 created: _Created) -> None:
    for name in _tables_read(statement):
        if name in created:
            report.lines.append(f"   reads {name}, created earlier in this script: not checked")
            report.unchecked += 1
            continue
        kind = runner.catalog.require_relation(name)
        if kind == "OBJECT_TABLE":
            runner.catalog.ensure_fresh(name)
            _check_files(runner, name, report)
    for predict in statement.find_all(exp.Predict):
        model = object_name(predict.this, "Model")
        if model in created or any(name in created for name in _tables_read(predict.expression)):
            report.lines.append(f"   ML.PREDICT with model {model}: its input contract is not checked "
                                "(the script creates what it needs first)")
            report.unchecked += 1
            continue
        _check_predict(runner, predict, statement, params, report)


def _tables_read(statement: exp.Expression) -> list[Name]:
    """Every dataset-qualified table a statement reads (CTE names and ML.PREDICT's MODEL left out)."""
    return [object_name(table) for table in statement.find_all(exp.Table)
            if isinstance(table.this, exp.Identifier) and not isinstance(table.parent, exp.Predict)
            and table.args.get("db")]


def _check_files(runner: QueryRunner, name: Any, report: DryRunReport) -> None:
    table = runner.catalog.object_table(name)
    [(count, total, big, images)] = runner.con.execute(
        f"SELECT COUNT(*), COALESCE(SUM(size), 0), COUNT(*) FILTER (size >= {MAX_INFERENCE_FILE_BYTES}), "
        f"COUNT(*) FILTER (content_type IN {IMAGE_TYPES}) FROM __bqml.{table.cache_table}"
    ).fetchall()
    report.files[str(name)] = {"files": count, "bytes": total, "images": images, "over_20mb": big}
    report.lines.append(f"   reads {name}: {count:,} files, {total / 2**20:,.1f} MiB, {images:,} JPEG/PNG/BMP")
    if big:
        report.problems.append(f"{name}: {big} file(s) of 20 MB or more cannot be used for inference")
    if total >= MAX_INFERENCE_TOTAL_BYTES:
        report.problems.append(f"{name}: {total / 1e12:.2f} TB in all; inference reads at most 1 TB")
    if images < count:
        report.lines.append(f"   note: {count - images:,} file(s) are not JPEG/PNG/BMP; ML.DECODE_IMAGE fails on them")


def _check_predict(runner: QueryRunner, predict: exp.Predict, statement: exp.Expression, params: dict[str, Any],
                   report: DryRunReport) -> None:
    info = runner.models.info(object_name(predict.this, "Model"))
    report.lines.append(f"   ML.PREDICT with {info.model_type} model {info.name} "
                        f"({', '.join(f.name for f in info.schema.features)} -> {', '.join(l.name for l in info.schema.labels)})")
    query = predict_input(predict, statement)
    schema = runner.stream(query.copy().limit(0), params).schema  # types only: no row is read
    try:
        mapping = feature_columns(info.schema, schema, info.name)
    except ModelError as exc:
        report.problems.append(str(exc))
        return
    for feature in info.schema.features:
        size = _resized_size(query, mapping[feature.name])
        expected = tuple(feature.shape[1:3])
        if size and len(expected) == 2 and None not in expected and -1 not in expected and size != expected:
            report.problems.append(
                f"{info.name}: feature '{feature.name}' expects {expected[0]}x{expected[1]} images; "
                f"the query resizes to {size[0]}x{size[1]}")


def _resized_size(query: exp.Expression, column: str) -> tuple[int, int] | None:
    """(height, width) when the column is ML.RESIZE_IMAGE(..., h, w, FALSE) with literal sizes."""
    if not isinstance(query, exp.Select):
        return None
    for projection in query.expressions:
        call = projection.unalias()
        if projection.alias_or_name.lower() != column.lower() or ml_function(call) is None:
            continue
        if call.expression.name.upper() == "RESIZE_IMAGE":
            _, h, w, keep = ml_arguments(call)
            if all(isinstance(v, exp.Literal) for v in (h, w)) and isinstance(keep, exp.Boolean) and not keep.this:
                return int(h.this), int(w.this)
    return None
