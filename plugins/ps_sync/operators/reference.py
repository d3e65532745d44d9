"""Reference-data operator: load projects, people, rates, periods and mappings into ``core``."""

from __future__ import annotations

from typing import Any

from ps_sync.hooks.erp import NetSuiteHook
from ps_sync.hooks.psa import KantataHook
from ps_sync.mappings import load_mappings
from ps_sync.operators.base import PipelineOperator
from ps_sync.reference import WorkdayReportReader, load_reference


class LoadReferenceOperator(PipelineOperator):
    """Reload the reference tables the pipeline validates and transforms against.

    A stopgap until master-data sync owns these tables (docs/design/approved-time-expense.md §1):
    PSA workspaces and users with their cross-references, ERP jobs, employees and accounting
    periods, HCM workers, assignments and cost rates, and ``include/mappings``. Pushes the row
    count per table to XCom.

    Args:
        psa_conn_id: PSA connection.
        erp_conn_id: ERP connection.
        hcm_conn_id: HCM connection.
    """

    def __init__(
        self,
        *,
        psa_conn_id: str = "psa_default",
        erp_conn_id: str = "erp_default",
        hcm_conn_id: str = "hcm_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.psa_conn_id = psa_conn_id
        self.erp_conn_id = erp_conn_id
        self.hcm_conn_id = hcm_conn_id

    def run(self, context: Any) -> dict[str, int]:
        """Load every reference table in one transaction."""
        mappings = load_mappings()
        with self.store() as conn:
            counts = load_reference(
                conn,
                psa=KantataHook(self.psa_conn_id),
                erp=NetSuiteHook(self.erp_conn_id),
                hcm=WorkdayReportReader(self.hcm_conn_id),
                mappings=mappings,
            )
        self.log.info("reference data loaded: %s", counts)
        return counts
