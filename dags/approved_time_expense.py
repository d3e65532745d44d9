"""
### approved_time_expense

Approved time and expenses from the PSA (Kantata) to the ERP (NetSuite):

* **time bills** for billable approved time (bill rate, service item by practice and role);
* **labour-cost journals** for all approved time, at the worker's cost rate effective on the
  work date, one journal per legal entity, period and work day;
* **expense reports** for approved expenses (category → ERP expense category and GL account).

Records move stage → validate → transform → post (docs/design/approved-time-expense.md):
staged with COPY, checked by the set-based rules in `include/sql/validate/` (errors are held in
`ops.exception` with a reason and what to do), written to the `posting` outbox with their
lineage, then upserted by external id under NetSuite's concurrency limit.

**Schedule:** every two hours, each run extracting records updated in its data interval plus a
six-hour overlap. Re-runs and backfills post nothing twice: staging keeps one row per version,
each record version is assigned to its documents once, and documents are upserted by an
external id fixed when they are created.

**Manual run (Params):** `entities` limits posting to some legal entities (e.g. `["UK01"]`);
`dry_run` shows the GL impact preview in the `build_postings` log and sends nothing; `since`
(ISO date-time) extracts from an earlier point to catch up.

**Owner:** data engineering; finance operations watch `ops.exception` and the ERP.
"""

from datetime import timedelta

from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag

from ps_sync.defaults import DEFAULT_ARGS, START_DATE
from ps_sync.operators.migrate import ApplyMigrationsOperator
from ps_sync.operators.post import BuildPostingsOperator, PostDocumentsOperator
from ps_sync.operators.reference import LoadReferenceOperator
from ps_sync.operators.stage import StageRecordsOperator
from ps_sync.operators.validate import ValidateRecordsOperator

# Downstream DAGs (analytics_refresh) are scheduled on this: ERP postings changed.
ERP_POSTINGS = Asset("pssync://posting/approved_time_expense", group="ps-sync")
LOOKBACK = timedelta(hours=6)


@dag(
    schedule=CronDataIntervalTimetable("0 */2 * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["time-expense", "psa", "erp", "finance"],
    doc_md=__doc__,
    params={
        "entities": Param(
            [],
            type="array",
            items={"type": "string"},
            description="Legal entity codes to post (empty: all), e.g. UK01",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            description="Preview the GL impact in the build_postings log; send nothing",
        ),
        "since": Param(
            None,
            type=["null", "string"],
            description="Extract records updated since this ISO date-time (catch-up)",
        ),
    },
)
def approved_time_expense():
    """Stage, validate, transform and post approved time and expenses."""
    migrate = ApplyMigrationsOperator(task_id="apply_migrations")
    reference = LoadReferenceOperator(task_id="load_reference_data")
    stage_time = StageRecordsOperator(
        task_id="stage_time_entries", entity="time_entries", lookback=LOOKBACK
    )
    stage_expenses = StageRecordsOperator(
        task_id="stage_expenses", entity="expenses", lookback=LOOKBACK
    )
    validate_time = ValidateRecordsOperator(
        task_id="validate_time_entries", entity="time_entries", stage_result=stage_time.output
    )
    validate_expenses = ValidateRecordsOperator(
        task_id="validate_expenses", entity="expenses", stage_result=stage_expenses.output
    )
    build = BuildPostingsOperator(task_id="build_postings")
    post = PostDocumentsOperator(task_id="post_documents", outlets=[ERP_POSTINGS])

    migrate >> [reference, stage_time, stage_expenses]
    reference >> [validate_time, validate_expenses]
    [validate_time, validate_expenses] >> build >> post


approved_time_expense()
