"""
### db_migrate

Applies ps-sync's schema migrations (`include/sql/ddl/`) to the ps-sync database, the one behind
the `ps_sync_db` Airflow connection.

* **When:** manually, after deploying a new version; other DAGs also apply migrations first.
* **Safe to re-run:** applied versions are recorded in `ops.schema_migration`, so a second run
  applies nothing; an applied file that was edited afterwards fails the run (add a new file).
* **Owner:** data engineering.
"""

from airflow.sdk import dag

from ps_sync.defaults import DEFAULT_ARGS, START_DATE
from ps_sync.operators.migrate import ApplyMigrationsOperator


@dag(
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    default_args=DEFAULT_ARGS,
    tags=["ops", "maintenance"],
    doc_md=__doc__,
    max_active_runs=1,
)
def db_migrate():
    """Apply pending schema migrations."""
    ApplyMigrationsOperator(task_id="apply_migrations")


db_migrate()
