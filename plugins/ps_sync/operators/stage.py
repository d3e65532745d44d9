"""Stage operator: extract a source collection for the run's window into ``staging`` (COPY)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from ps_sync.batches import close_batch, open_batch
from ps_sync.hooks.psa import KantataHook
from ps_sync.operators.base import PipelineOperator, extraction_window, task_identity
from ps_sync.staging import stage_records

PROGRESS_EVERY_SECONDS = 10.0


class StageRecordsOperator(PipelineOperator):
    """Stream one PSA collection, incrementally by ``updated_at``, into ``staging.record``.

    The window is the run's data interval widened by ``lookback`` (and by the ``since`` Param of a
    manual run), so a backfill re-reads exactly its interval and re-staging is a no-op. Pushes
    ``{"batch_id", "extracted", "distinct_versions", "new_versions"}`` to XCom.

    Args:
        entity: the Kantata collection (``time_entries``, ``expenses``).
        psa_conn_id: Airflow connection of the PSA.
        approved_only: extract approved records only (Kantata's ``approved`` filter).
        lookback: overlap with the previous window.
        workflow: the workflow name recorded on the batch (default: the DAG id).
    """

    template_fields = ("entity",)

    def __init__(
        self,
        *,
        entity: str,
        psa_conn_id: str = "psa_default",
        approved_only: bool = True,
        lookback: timedelta = timedelta(hours=6),
        workflow: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.entity = entity
        self.psa_conn_id = psa_conn_id
        self.approved_only = approved_only
        self.lookback = lookback
        self.workflow = workflow

    def _records(self, hook: KantataHook, window: Any) -> Iterator[dict[str, Any]]:
        """The collection's records page by page, logging progress at a steady interval."""
        started = last_log = time.monotonic()
        count = 0
        for page in hook.iter_pages(
            self.entity,
            updated_after=window.start,
            updated_before=window.end,
            approved=True if self.approved_only else None,
        ):
            count += len(page.records)
            yield from page.records
            now = time.monotonic()
            if now - last_log >= PROGRESS_EVERY_SECONDS:
                last_log = now
                rate = count / max(now - started, 1e-9)
                eta = (page.total - count) / rate if page.total and rate else None
                self.log.info(
                    "staging %s: page %d, %d records, %.0f records/s%s",
                    self.entity,
                    page.number,
                    count,
                    rate,
                    f", ETA {eta:.0f}s" if eta is not None else "",
                )

    def run(self, context: Any) -> dict[str, Any]:
        """Extract and stage; record the batch and its counts."""
        window = extraction_window(context, self.lookback)
        hook = KantataHook(self.psa_conn_id)
        started = time.monotonic()
        with self.store() as conn:
            batch_id = open_batch(
                conn,
                workflow=self.workflow or context["ti"].dag_id,
                step="stage",
                source_system="psa",
                entity=self.entity,
                interval_start=window.start,
                interval_end=window.end,
                task=task_identity(context),
            )
            try:
                result = stage_records(
                    conn,
                    self._records(hook, window),
                    batch_id=batch_id,
                    source_system="psa",
                    entity=self.entity,
                )
            except BaseException:
                conn.rollback()
                close_batch(conn, batch_id, status="failed", control_totals={})
                raise
            totals = {
                "extracted": result.extracted,
                "distinct_versions": result.distinct_versions,
                "new_versions": result.new_versions,
                "seconds": round(time.monotonic() - started, 3),
            }
            close_batch(conn, batch_id, status="succeeded", control_totals=totals)
        self.log.info(
            "staged %s %s..%s: %d extracted, %d new versions, %d already staged",
            self.entity,
            window.start,
            window.end,
            result.extracted,
            result.new_versions,
            result.already_staged,
        )
        return {"batch_id": batch_id, **totals}
