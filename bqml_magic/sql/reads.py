"""Which columns of a table a translated statement can read: what a stream need not build."""

from __future__ import annotations

from sqlglot import exp


def columns_read(tree: exp.Expression, table: str) -> set[str] | None:
    """Lower-cased names of the columns ``tree`` may read from ``table``; None when it may
    read them all: a ``*`` other than ``COUNT(*)``, a NATURAL join (it joins on whatever names
    the two sides share), or the table's row used as a value (``TO_JSON(t)``). It over-counts
    on purpose: every name in the statement counts, whatever it names.
    """
    if any(str(join.args.get("method") or "").upper() == "NATURAL" for join in tree.find_all(exp.Join)):
        return None
    if any(not isinstance(star.parent, exp.Count) for star in tree.find_all(exp.Star)):
        return None
    rows = {table.lower()}
    rows |= {t.alias_or_name.lower() for t in tree.find_all(exp.Table) if t.name.lower() == table.lower()}
    if any(column.name.lower() in rows and not column.table for column in tree.find_all(exp.Column)):
        return None
    return {identifier.name.lower() for identifier in tree.find_all(exp.Identifier)}
