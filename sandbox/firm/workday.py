"""The firm as Workday (HCM) report rows: workers and their effective-dated cost rates.

Values are strings, Workday RaaS style. ``Employee_ID`` is also the worker row's ``id`` and
``external_id``.
"""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.firm import dates
from sandbox.firm.model import Firm
from sandbox.store import RecordRow


def workday_records(firm: Firm) -> Iterator[RecordRow]:
    """Every HCM record."""
    wd = dates.workday_time
    for w in firm.workers:
        e = w.entity
        data = {
            "Employee_ID": w.employee_id,
            "Worker": w.full_name,
            "Work_Email": w.email,
            "Worker_Status": "Terminated" if w.termination_date else "Active",
            "Hire_Date": w.hire_date.isoformat(),
            "Termination_Date": w.termination_date.isoformat() if w.termination_date else None,
            "Company": e.code,
            "Cost_Center": f"CC-{e.code}-{w.practice.key}",
            "Department": w.practice.name,
            "Job_Profile": w.role.name,
            "Location": e.city,
            "Time_Zone": e.time_zone,
            "Manager_ID": w.manager.employee_id if w.manager else None,
            "Last_Updated": wd(w.hcm_updated),
        }
        yield RecordRow(
            "worker", int(w.employee_id), data, w.employee_id, w.hcm_updated, w.hcm_updated
        )
        plan = "Salaried Cost Rate" if w.role.id >= 1004 else "Hourly Cost Rate"
        for v in w.cost_versions:
            yield RecordRow(
                "cost_rate",
                v.id,
                {
                    "Employee_ID": w.employee_id,
                    "Effective_Date": v.effective.isoformat(),
                    "End_Date": v.end.isoformat() if v.end else None,
                    "Hourly_Cost_Rate": f"{v.cents // 100}.{v.cents % 100:02d}",
                    "Currency": e.currency,
                    "Compensation_Plan": plan,
                    "Last_Updated": wd(v.updated),
                },
                None,
                v.updated,
                v.updated,
            )
