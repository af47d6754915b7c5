"""``%%bigquery``'s flags for the cloud: accepted, then noted (no effect here) or refused (cannot mean here
what they mean in BigQuery).

A notebook written for ``%%bigquery`` carries flags such as ``--project`` or ``--location`` on its cells.
Refusing them would stop every such notebook at its first cell; ignoring them silently would hide that
they do nothing. So each flag has one row here, with the reason: the magic's parser, its note line, its
refusals and ``docs/behaviour.md#bigquery-compatibility`` all read this table. Flags with a meaning here
(``--maximum_bytes_billed``, ``--pyformat``, ``--max_results``...) are the magic's own arguments.

The note is one line on stdout, for all the flags of a cell: stdout is the plain text a notebook saves
quietly; stderr is drawn as a red box in JupyterLab, nbviewer and HTML exports, which reads as a failure.
Imports nothing heavy: this module loads with the extension.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, argument_group

F = TypeVar("F", bound=Callable[..., Any])


class Effect(enum.Enum):
    """Noted: the cell runs, with a note. Refused: the cell stops before running anything."""

    NOTED = "no effect here"
    REFUSED = "refused"


@dataclass(frozen=True)
class CloudFlag:
    """One ``%%bigquery`` flag and what it does in ``%%bqml``; ``metavar`` None: a switch."""

    flag: str
    effect: Effect
    reason: str
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    usual: str | None = None
    """The value that asks for what happens here anyway (``--engine pandas``): accepted silently."""

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-")

    def given(self, options: Any) -> str | None:
        """The flag as the cell wrote it (``--location US``), or None when absent or usual."""
        value = getattr(options, self.dest)
        if value is None or value is False or value == self.usual:
            return None
        return self.flag if value is True else f"{self.flag} {value}"


NO_CLOUD = "one local engine: no projects, regions or endpoints"
NO_API = "results come straight from DuckDB, through no API"

CLOUD_FLAGS: tuple[CloudFlag, ...] = (
    CloudFlag("--project", Effect.NOTED, NO_CLOUD, "PROJECT"),
    CloudFlag("--location", Effect.NOTED, NO_CLOUD, "LOCATION"),
    CloudFlag("--bigquery_api_endpoint", Effect.NOTED, NO_CLOUD, "URL"),
    CloudFlag("--bqstorage_api_endpoint", Effect.NOTED, NO_CLOUD, "URL"),
    CloudFlag("--use_rest_api", Effect.NOTED, NO_API),
    CloudFlag("--use_bqstorage_api", Effect.NOTED, NO_API + "; the flag is deprecated in %%bigquery too"),
    CloudFlag("--no_query_cache", Effect.NOTED, "there is no query cache: every query runs"),
    CloudFlag("--graph", Effect.NOTED, "there is no graph visualizer: the result shows as a table"),
    CloudFlag(
        "--use_legacy_sql",
        Effect.REFUSED,
        "legacy SQL is not supported here, only GoogleSQL (BigQuery ML's own dialect): drop the flag",
    ),
    CloudFlag(
        "--use_geodataframe",
        Effect.REFUSED,
        "GEOGRAPHY columns are not supported here, so there is no GeoDataFrame to make: "
        "drop the flag for a pandas DataFrame",
        "COLUMN",
    ),
    CloudFlag(
        "--engine",
        Effect.REFUSED,
        "BigQuery DataFrames run in BigQuery itself: use --engine pandas (the default) for a pandas DataFrame",
        "{pandas,bigframes}",
        choices=("pandas", "bigframes"),
        usual="pandas",
    ),
)


def cloud_flags(magic: F) -> F:
    """Add every flag of the table to a magic's parser, in a group of their own in its help.

    ``magic_arguments`` builds the parser from the decorators in reverse order of application,
    so the arguments go on last first and the group that heads them last of all.
    """
    for row in reversed(CLOUD_FLAGS):
        reason = row.reason.replace("%", "%%")  # argparse formats help with %
        options: dict[str, Any] = {"help": f"{row.effect.value}: {reason}"}
        if row.metavar is None:
            options["action"] = "store_true"
        else:
            options["metavar"] = row.metavar
            if row.choices:
                options["choices"] = row.choices
        magic = argument(row.flag, **options)(magic)
    return argument_group("%%bigquery flags for the cloud")(magic)


def note_or_refuse(options: Any) -> str | None:
    """Raise ``UsageError`` for a refused flag; else the one note line for the noted ones, if any."""
    for row in CLOUD_FLAGS:
        given = row.given(options)
        if given is not None and row.effect is Effect.REFUSED:
            raise UsageError(f"{given}: {row.reason}")
    noted = [(given, row.reason) for row in CLOUD_FLAGS if (given := row.given(options)) is not None]
    if not noted:
        return None
    flags = ", ".join(given for given, _ in noted)
    verb = "has" if len(noted) == 1 else "have"
    reasons = "; ".join(dict.fromkeys(reason for _, reason in noted))
    return f"Note: {flags} {verb} no effect here ({reasons})"


def bytes_limit(text: str | None) -> int | None:
    """``--maximum_bytes_billed``: bytes, or None for no limit (``None`` and ``0``, as %%bigquery sends)."""
    if text is None or text == "None":
        return None
    try:
        limit = int(text)
    except ValueError:
        raise UsageError(f"--maximum_bytes_billed takes a number of bytes or None, not {text!r}") from None
    if limit < 0:
        raise UsageError(f"--maximum_bytes_billed takes 0 or more bytes, not {limit}")
    return limit or None
