"""Engine errors that carry no value from a row.

A psycopg error's message and DETAIL quote the offending values (``Key (email)=(x@y.z) already
exists``, ``invalid input syntax for type uuid: "Ravi"``). Neither may reach a log line, a Dagster
event, asset metadata or a report. :func:`from_db` keeps only what names things: the table, the
engine step, the SQLSTATE and its condition name, and the constraint, column and relation names of
the error's diagnostics (identifiers from the catalog, never values).

:func:`guarded` runs a step and raises the :class:`TransformError` *outside* the ``except`` block,
so the psycopg error is neither its ``__cause__`` nor its ``__context__`` (a traceback, or Dagster's
serialized error with its chain of causes, would otherwise print the DETAIL).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import psycopg

T = TypeVar("T")


class TransformError(RuntimeError):
    """A canonical table could not be applied. ``str()`` names the table, the step, the SQLSTATE and
    the constraint; never a value."""

    def __init__(self, message: str, *, table: str | None = None, step: str | None = None,
                 sqlstate: str | None = None, constraint: str | None = None):
        super().__init__(message)
        self.table = table
        self.step = step
        self.sqlstate = sqlstate
        self.constraint = constraint


def describe_db_error(exc: psycopg.Error) -> tuple[str, str | None, str]:
    """(sqlstate, constraint, PHI-free description) of a database error: the SQLSTATE, its condition
    name and the identifiers of its diagnostics."""
    diag = exc.diag
    sqlstate = exc.sqlstate or diag.sqlstate or "?"
    parts = [f"SQLSTATE {sqlstate} ({type(exc).__name__})"]
    if diag.constraint_name:
        parts.append(f"constraint {diag.constraint_name}")
    if diag.schema_name and diag.table_name:
        parts.append(f"relation {diag.schema_name}.{diag.table_name}")
    elif diag.table_name:
        parts.append(f"relation {diag.table_name}")
    if diag.column_name:
        parts.append(f"column {diag.column_name}")
    if diag.datatype_name:
        parts.append(f"type {diag.datatype_name}")
    return sqlstate, diag.constraint_name, ", ".join(parts)


def from_db(table: str, step: str, exc: psycopg.Error) -> TransformError:
    sqlstate, constraint, text = describe_db_error(exc)
    return TransformError(f"{table}: step {step} failed: {text}", table=table, step=step, sqlstate=sqlstate,
                          constraint=constraint)


def guarded(table: str, step: str, fn: Callable[..., T], *args, **kwargs) -> T:
    """``fn(*args, **kwargs)``; a psycopg error becomes a PHI-free :class:`TransformError` naming
    ``table`` and ``step``, raised without the original in its chain."""
    failure: TransformError | None = None
    try:
        return fn(*args, **kwargs)
    except psycopg.Error as exc:
        failure = from_db(table, step, exc)
    raise failure
