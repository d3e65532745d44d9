"""An operator that applies ps-sync's schema migrations, for any DAG that needs the schema."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from ps_sync import db


class ApplyMigrationsOperator(BaseOperator):
    """Apply pending migrations from ``include/sql/ddl`` to the ps-sync database.

    Safe to retry and to run concurrently: applied versions are recorded and migrators take an
    advisory lock. Pushes only ``{"applied": [...], "already_applied": n}`` to XCom.

    Args:
        conn_id: Airflow connection of the ps-sync database.
    """

    ui_color = "#d7e9f7"

    def __init__(self, *, conn_id: str = "ps_sync_db", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        """Run the migrations and return what was applied."""
        ti = context["ti"]
        who = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/try{ti.try_number}"
        result = db.migrate(db.database_url(self.conn_id), applied_by=who)
        self.log.info(
            "migrations applied now: %s; already applied: %d",
            result.applied or "none",
            len(result.already_applied),
        )
        return {"applied": result.applied, "already_applied": len(result.already_applied)}
