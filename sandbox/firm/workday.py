"""The firm as Workday (HCM) records: workers, their assignments and effective-dated cost rates.

Values are strings, Workday RaaS style. ``Employee_ID`` is also the worker row's ``id`` and
``external_id``. The worker record carries the organisation fields of the worker's latest
assignment; the ``assignment`` records are the history the reports read by effective date.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sandbox.firm import dates
from sandbox.firm.model import Assignment, Firm
from sandbox.firm.reference import MANAGER_ROLES
from sandbox.store import RecordRow


def _organisation(a: Assignment) -> dict[str, Any]:
    """The organisation fields of an assignment (Workday column aliases)."""
    e = a.entity
    return {
        "Company": e.code,
        "Cost_Center": f"CC-{e.code}-{a.practice.key}",
        "Department": a.practice.name,
        "Job_Profile": a.role.name,
        "Location": e.city,
        "Time_Zone": e.time_zone,
        "Manager_ID": a.manager.employee_id if a.manager else None,
    }


def workday_records(firm: Firm) -> Iterator[RecordRow]:
    """Every HCM record."""
    wd = dates.workday_time
    for w in firm.workers:
        data = {
            "Employee_ID": w.employee_id,
            "Worker": w.full_name,
            "Work_Email": w.email,
            "Worker_Status": "Terminated" if w.termination_date else "Active",
            "Hire_Date": w.hire_date.isoformat(),
            "Termination_Date": w.termination_date.isoformat() if w.termination_date else None,
            **_organisation(w.assignments[-1]),
            "Last_Updated": wd(w.hcm_updated),
        }
        yield RecordRow(
            "worker", int(w.employee_id), data, w.employee_id, w.hcm_updated, w.hcm_updated
        )
        for a in w.assignments:
            yield RecordRow(
                "assignment",
                a.id,
                {
                    "Employee_ID": w.employee_id,
                    "Effective_Date": a.effective.isoformat(),
                    "End_Date": a.end.isoformat() if a.end else None,
                    **_organisation(a),
                    "Last_Updated": wd(a.updated),
                },
                None,
                a.updated,
                a.updated,
            )
        for v in w.cost_versions:
            salaried = w.assignment_on(v.effective).role.id in MANAGER_ROLES
            yield RecordRow(
                "cost_rate",
                v.id,
                {
                    "Employee_ID": w.employee_id,
                    "Effective_Date": v.effective.isoformat(),
                    "End_Date": v.end.isoformat() if v.end else None,
                    "Hourly_Cost_Rate": f"{v.cents // 100}.{v.cents % 100:02d}",
                    "Currency": v.currency,
                    "Compensation_Plan": "Salaried Cost Rate" if salaried else "Hourly Cost Rate",
                    "Last_Updated": wd(v.updated),
                },
                None,
                v.updated,
                v.updated,
            )
