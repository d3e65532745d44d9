"""Posting operators: build ERP documents into the outbox (or preview them), then send them."""

from __future__ import annotations

import dataclasses
from typing import Any

from ps_sync.batches import close_batch, open_batch
from ps_sync.hooks.erp import NetSuiteHook
from ps_sync.operators.base import PipelineOperator, jsonable, task_identity
from ps_sync.posting import build_documents, preview_documents, send_documents


def _param(context: Any, name: str, default: Any = None) -> Any:
    return (context.get("params") or {}).get(name, default)


class BuildPostingsOperator(PipelineOperator):
    """Turn accepted time and expenses into time bills, labour-cost journals and expense reports.

    Writes documents, lines and lineage to the outbox in one transaction, before anything is
    sent. With the ``dry_run`` Param it builds them in a transaction that is rolled back and
    logs the GL impact preview instead. The ``entities`` Param limits it to some legal entities.
    """

    def run(self, context: Any) -> dict[str, Any]:
        """Build (or preview) the documents of every accepted, unassigned record."""
        entities = _param(context, "entities") or None
        as_of = (context.get("data_interval_end") or context["logical_date"]).date()
        with self.store() as conn:
            batch_id = open_batch(
                conn,
                workflow=context["ti"].dag_id,
                step="transform",
                source_system="psa",
                entity="postings",
                task=task_identity(context),
            )
            if _param(context, "dry_run", False):
                lines = preview_documents(
                    conn,
                    batch_id=batch_id,
                    task=task_identity(context),
                    entity_codes=entities,
                    as_of=as_of,
                )
                self._log_preview(lines)
                summary = {"dry_run": True, "preview_lines": len(lines)}
            else:
                result = build_documents(
                    conn,
                    batch_id=batch_id,
                    task=task_identity(context),
                    entity_codes=entities,
                    as_of=as_of,
                )
                summary = {"dry_run": False, **jsonable(dataclasses.asdict(result))}
            close_batch(conn, batch_id, status="succeeded", control_totals=summary)
        return {"batch_id": batch_id, **summary}

    def _log_preview(self, lines: list[dict[str, Any]]) -> None:
        """The GL impact preview, one line per document line, in the task log."""
        self.log.info("GL impact preview (dry run, nothing written or sent): %d lines", len(lines))
        for line in lines:
            self.log.info(
                "%-13s %-28s %-5s %s %-10s acct %-6s Dr %12s Cr %12s hours %8s",
                line.get("doc_type"),
                line.get("external_id"),
                line.get("entity_code"),
                line.get("tran_date"),
                line.get("posting_period_id"),
                line.get("account_id") or "",
                line.get("debit") or "",
                line.get("credit") or "",
                line.get("hours") or "",
            )


class PostDocumentsOperator(PipelineOperator):
    """Send the outbox's pending documents to the ERP, exactly once in effect.

    Upserts by external id under the ERP's concurrency limit; records ERP ids and confirms;
    refused documents go to the exception queue. Skipped in a dry run.

    Args:
        erp_conn_id: ERP connection.
    """

    def __init__(self, *, erp_conn_id: str = "erp_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.erp_conn_id = erp_conn_id

    def run(self, context: Any) -> dict[str, Any]:
        """Send every pending document."""
        if _param(context, "dry_run", False):
            self.log.info("dry run: nothing is sent")
            return {"dry_run": True}
        hook = NetSuiteHook(self.erp_conn_id)
        with self.store() as conn:
            batch_id = open_batch(
                conn,
                workflow=context["ti"].dag_id,
                step="post",
                source_system="erp",
                entity="documents",
                task=task_identity(context),
            )
            result = send_documents(conn, hook, batch_id=batch_id)
            summary = jsonable(dataclasses.asdict(result))
            close_batch(conn, batch_id, status="succeeded", control_totals=summary)
        self.log.info("posted: %s", summary)
        return {"batch_id": batch_id, **summary}
