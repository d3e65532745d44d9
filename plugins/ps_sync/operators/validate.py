"""Validate operator: run the set-based rules over a stage batch; hold errors, accept the rest."""

from __future__ import annotations

from typing import Any

from ps_sync.batches import open_batch
from ps_sync.operators.base import PipelineOperator, task_identity
from ps_sync.validate import validate_batch


class ValidateRecordsOperator(PipelineOperator):
    """Validate what a :class:`~ps_sync.operators.stage.StageRecordsOperator` staged.

    Rules live in ``include/sql/validate/<entity>/``; errors go to ``ops.exception`` with their
    reason and remediation, accepted records to ``core``. "Future" is judged against the run's
    data interval end. Pushes accepted/held counts, held per rule and control totals to XCom.

    Args:
        entity: ``time_entries`` or ``expenses``.
        stage_result: the stage task's XCom (``stage.output``), holding its ``batch_id``.
    """

    template_fields = ("entity", "stage_result")

    def __init__(self, *, entity: str, stage_result: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entity = entity
        self.stage_result = stage_result

    def run(self, context: Any) -> dict[str, Any]:
        """Validate the stage batch and record the outcome."""
        with self.store() as conn:
            batch_id = open_batch(
                conn,
                workflow=context["ti"].dag_id,
                step="validate",
                source_system="psa",
                entity=self.entity,
                task=task_identity(context),
            )
            result = validate_batch(
                conn,
                stage_batch_id=int(self.stage_result["batch_id"]),
                entity=self.entity,
                batch_id=batch_id,
                task=task_identity(context),
                as_of=(context.get("data_interval_end") or context["logical_date"]).date(),
            )
            # validate_batch has closed its batch with these totals, in its own transaction.
            summary = result.control_totals()
        self.log.info("validated %s: %s", self.entity, summary)
        return {"batch_id": batch_id, **summary}
