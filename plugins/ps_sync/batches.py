"""Batches in ``ops.batch``: one per workflow step over one source entity, with control totals.

A task opens a batch, does its work, and closes it with its counts and totals; what it pushes to
XCom is the batch id and those numbers, never rows (DESIGN §2.5).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb


def open_batch(
    conn: psycopg.Connection,
    *,
    workflow: str,
    step: str,
    source_system: str,
    entity: str,
    interval_start: datetime | None = None,
    interval_end: datetime | None = None,
    task: dict[str, Any] | None = None,
) -> int:
    """Record the start of a batch and return its id (committed at once).

    Args:
        conn: a psycopg connection.
        workflow: the DAG (``approved_time_expense``).
        step: ``stage``, ``validate``, ``transform`` or ``post``.
        source_system: ``psa``, ``erp``, ``crm`` or ``hcm``.
        entity: the source collection.
        interval_start: the data interval the batch covers (with any overlap applied).
        interval_end: end of that interval.
        task: ``dag_id``, ``run_id``, ``task_id``, ``try_number`` of the Airflow task, if any.
    """
    task = task or {}
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO ops.batch (workflow, step, source_system, entity, interval_start, "
            "interval_end, dag_id, run_id, task_id, try_number) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING batch_id",
            (
                workflow,
                step,
                source_system,
                entity,
                interval_start,
                interval_end,
                task.get("dag_id"),
                task.get("run_id"),
                task.get("task_id"),
                task.get("try_number"),
            ),
        ).fetchone()
    assert row is not None
    return int(row[0])


def close_batch(
    conn: psycopg.Connection, batch_id: int, *, status: str, control_totals: dict[str, Any]
) -> None:
    """Record the end of a batch with its outcome and control totals."""
    with conn.transaction():
        conn.execute(
            "UPDATE ops.batch SET status = %s, control_totals = %s, finished_at = now() "
            "WHERE batch_id = %s",
            (status, Jsonb(control_totals), batch_id),
        )
