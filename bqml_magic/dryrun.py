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

from bqml_magic.catalog import information_schema
from bqml_magic.catalog.schema import SCHEMA
from bqml_magic.errors import BQMLError, ModelError
from bqml_magic.execution.predict import feature_columns
from bqml_magic.execution.run import Execution
from bqml_magic.runtimes import limits
from bqml_magic.sql.external_table import CreateExternalTable
from bqml_magic.sql.kinds import RelationKind, StatementKind, statement_kind
from bqml_magic.sql.metadata_names import MetadataRef
from bqml_magic.sql.ml import ml_arguments, ml_function
from bqml_magic.sql.names import Name, dataset_name, object_name, quoted
from bqml_magic.sql.options import options_of
from bqml_magic.sql.parse import Statement, parse_script
from bqml_magic.sql.passes import first_rows
from bqml_magic.sql.pipeline import translate
from bqml_magic.sql.rewrite import PredictCall
from bqml_magic.sql.udf import FunctionDefinition, Routine
from bqml_magic.sql.vector_index import CreateVectorIndex, DropVectorIndex
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
    image_work: str | None = None
    """Where the script's image work would run, if it has any."""

    def summary(self) -> str:
        if self.problems:
            verdict = "would fail:\n  " + "\n  ".join(self.problems)
        elif self.unchecked:
            verdict = (
                f"is valid as far as it can be checked before it runs ({self.unchecked} check(s) need "
                "objects the script creates first)"
            )
        else:
            verdict = "is valid"
        where = [f"Image work would run {self.image_work}."] if self.image_work else []
        return "\n".join([*self.lines, *where, f"The script {verdict}."])

    def __str__(self) -> str:
        return self.summary()


class _Created:
    """What earlier statements of the script create: nothing exists yet to check it against."""

    def __init__(self) -> None:
        self._keys: set[tuple[str, str | None]] = set()
        self._functions: set[tuple[str, ...]] = set()

    def add(self, kind: StatementKind, statement: Statement) -> None:
        if isinstance(statement, CreateExternalTable):
            self._keys.add(statement.name.key)
        elif not isinstance(statement, exp.Expression):  # a vector index: no name of its own to read
            return
        elif kind is StatementKind.CREATE_SCHEMA:
            self._keys.add((dataset_name(statement.this).lower(), None))
        elif kind in (StatementKind.CREATE_MODEL, StatementKind.CREATE_TABLE, StatementKind.CREATE_VIEW):
            target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
            self._keys.add(object_name(target).key)
        elif kind is StatementKind.CREATE_FUNCTION and isinstance(statement, exp.Create):
            self._functions.add(_function_key(FunctionDefinition.of(statement).name))

    def __contains__(self, name: Name) -> bool:
        return (name.dataset.lower(), None) in self._keys or name.key in self._keys

    def has_function(self, name: Name | str) -> bool:
        in_new_dataset = isinstance(name, Name) and (name.dataset.lower(), None) in self._keys
        return in_new_dataset or _function_key(name) in self._functions


def _function_key(name: Name | str) -> tuple[str, ...]:
    return name.key if isinstance(name, Name) else (name.lower(),)


class _ScriptResolver:
    """Resolves names as the statement would when it runs: against the catalog, or as created
    by an earlier statement of the script (then not checked, and said so)."""

    def __init__(self, execution: Execution, report: DryRunReport, created: _Created):
        self.execution, self.report, self.created = execution, report, created
        self.read_created = False

    def object_rows(self, name: Name, source: str) -> tuple[exp.Expr, str]:
        return self.execution.object_rows(name, source)

    def view_query(self, name: Name) -> exp.Expression | None:
        return None if name in self.created else self.execution.view_query(name)

    def information_schema(self, ref: MetadataRef) -> exp.Expression:
        if ref.dataset is not None and Name(ref.dataset, "") in self.created:
            self.report.lines.append(f"   reads {ref.dataset}.INFORMATION_SCHEMA, created earlier in this script")
            return information_schema.relation(ref)
        return self.execution.information_schema(ref)

    def function(self, name: Name | str) -> Routine | None:
        if self.created.has_function(name):
            self.report.lines.append(f"   calls {name}, created earlier in this script: not checked")
            self.report.unchecked += 1
            self.read_created = True
            return None  # the call is left as written: this translation never runs
        return self.execution.function(name)

    def relation_kind(self, name: Name) -> RelationKind:
        if name in self.created:
            self.report.lines.append(f"   reads {name}, created earlier in this script: not checked")
            self.report.unchecked += 1
            self.read_created = True
            return RelationKind.TABLE
        kind = self.execution.relation_kind(name)
        if kind is RelationKind.OBJECT_TABLE and str(name) not in self.report.files:
            _check_files(self.execution, name, self.report)
        return kind


def dry_run(execution: Execution, sql: str) -> DryRunReport:
    report = DryRunReport()
    created = _Created()
    for number, statement in enumerate(parse_script(sql), 1):
        kind = statement_kind(statement)
        target = _target(statement)
        report.lines.append(f"{number}. {kind.value}{' ' + target if target else ''}")
        query = _query_of(kind, statement)
        if query is not None:
            _check_query(execution, query, report, created)
        if kind is StatementKind.CREATE_MODEL and isinstance(statement, exp.Expression):
            _check_model_files(execution, statement, report)
        created.add(kind, statement)
    return report


def _query_of(kind: StatementKind, statement: Statement) -> exp.Expression | None:
    """The part of a statement that reads tables: the query itself, a CREATE ... AS's query, DML."""
    if not isinstance(statement, exp.Expression):
        return None
    if kind in (StatementKind.QUERY, StatementKind.DML):
        return statement
    if kind in (StatementKind.CREATE_TABLE, StatementKind.CREATE_VIEW, StatementKind.CREATE_FUNCTION):
        return statement.expression  # a function's body: its tables and the functions it calls
    return None


def _target(statement: Statement) -> str:
    if isinstance(statement, CreateExternalTable):
        return str(statement.name)
    if isinstance(statement, (CreateVectorIndex, DropVectorIndex)):
        return f"{statement.index} ON {statement.table}"
    table = statement.this if isinstance(statement, exp.Create) else None
    if isinstance(table, (exp.Schema, exp.UserDefinedFunction)):
        table = table.this
    return table.sql("bigquery") if isinstance(table, exp.Table) else ""


def _check_query(execution: Execution, query: exp.Expression, report: DryRunReport, created: _Created) -> None:
    """Translated as it would run (``executing``): views are read through, so the object tables behind
    them are checked and counted too (the bytes ``maximum_bytes_billed`` limits); nothing is executed."""
    resolver = _ScriptResolver(execution, report, created)
    translation = translate(query, resolver, executing=True)
    if translation.predictions or translation.lifted or translation.object_streams:
        report.image_work = execution.runner.where()
    for search in translation.searches:  # their tables are read apart from the statement
        for part in (search.base, search.query):
            _check_query(execution, part, report, created)
    for call in translation.predictions:
        inputs = _ScriptResolver(execution, report, created)
        translate(call.input, inputs, executing=True)
        if call.model in created or inputs.read_created:
            report.lines.append(
                f"   ML.PREDICT with model {call.model}: its input contract is not checked "
                "(the script creates what it needs first)"
            )
            report.unchecked += 1
            continue
        _check_predict(execution, call, report)


def _check_files(execution: Execution, name: Name, report: DryRunReport) -> None:
    table = execution.services.catalog.object_table(name)
    assert table is not None
    [(count, total, big, images)] = execution.services.con.execute(
        f"SELECT COUNT(*), COALESCE(SUM(size), 0), COUNT(*) FILTER (size >= ?), "
        f"COUNT(*) FILTER (content_type IN {IMAGE_TYPES}) FROM {quoted(SCHEMA, table.cache_table)}",
        [MAX_INFERENCE_FILE_BYTES],
    ).fetchall()
    report.files[str(name)] = {"files": count, "bytes": total, "images": images, "over_20mb": big}
    report.lines.append(f"   reads {name}: {count:,} files, {total / 2**20:,.1f} MiB, {images:,} JPEG/PNG/BMP")
    if big:
        report.problems.append(f"{name}: {big} file(s) of 20 MB or more cannot be used for inference")
    if total >= MAX_INFERENCE_TOTAL_BYTES:
        report.problems.append(f"{name}: {total / 1e12:.2f} TB in all; inference reads at most 1 TB")
    if images < count:
        report.lines.append(f"   note: {count - images:,} file(s) are not JPEG/PNG/BMP; ML.DECODE_IMAGE fails on them")


def _check_model_files(execution: Execution, statement: exp.Expression, report: DryRunReport) -> None:
    """What CREATE MODEL would copy, counted from the folder or the store's listing: nothing is downloaded."""
    options = options_of(statement)
    model_path, model_type = options.get("model_path"), str(options.get("model_type") or "").upper()
    if not isinstance(model_path, str) or not model_path:
        report.problems.append("CREATE MODEL needs OPTIONS(model_path = '...')")
        return
    try:
        files = execution.services.models.source_files(model_path)
    except BQMLError as exc:
        report.problems.append(f"model_path '{model_path}': {exc.message}")
        return
    total = sum(size for _, _, size in files)
    report.lines.append(f"   copies {model_path}: {len(files):,} file(s), {total / 2**20:,.1f} MiB")
    if total >= limits.MAX_SERIALIZED_BYTES:
        report.problems.append(f"model_path '{model_path}': {limits.too_big(model_type, f'are {total:,} bytes')}")


def _check_predict(execution: Execution, call: PredictCall, report: DryRunReport) -> None:
    info = execution.services.models.info(call.model)
    features = ", ".join(f.name for f in info.schema.features)
    labels = ", ".join(label.name for label in info.schema.labels)
    report.lines.append(f"   ML.PREDICT with {info.model_type} model {info.name} ({features} -> {labels})")
    query = call.input
    schema = execution.stream(first_rows(query.copy(), 0)).schema  # types only: no row is read
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
                f"the query resizes to {size[0]}x{size[1]}"
            )


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
