"""The HCM sandbox: Workday RaaS (Report-as-a-Service) custom reports.

Wire format per ``shared/reference/api-wire-formats.md`` §4.1::

    GET /ccx/service/customreport2/<tenant>/<report_owner>/<report>?format=json[&<Prompt>=<value>]
    Authorization: Basic base64(<username>:<password>)

``format=json`` answers ``{"Report_Entry": [...]}`` with string values; ``format=csv`` the same
columns as CSV (header row = column aliases); no ``format`` (Workday's default) or
``format=simplexml`` answers XML (``wd:Report_Data``/``wd:Report_Entry``, or without the
namespace). The whole report comes back in one response: RaaS has no paging [U].

Auth: HTTP Basic with the integration user (``username``, also accepted as
``username@tenant``) and ``password`` of the sandbox credentials; any other tenant in the URL is
refused like a wrong password (401). A report owner other than ``report_owner`` or an unknown
report name is a 404.

Workers are stored as ``worker`` records with two effective-dated histories keyed by
``Employee_ID``: ``cost_rate`` versions and ``assignment`` versions (legal entity, cost center,
department, job, location, manager; a transfer or promotion starts a new version). A version is
in effect on a date when ``Effective_Date <= date <= End_Date`` (open-ended when ``End_Date`` is
empty); the latest ``Effective_Date`` wins an overlap.

Reports. Workday column aliases are tenant-defined; these are ps-sync's, pinned here:

``PSA_Workers`` — one entry per worker as of ``Effective_as_of_Date``.
    Columns: ``Employee_ID, Worker, Work_Email, Worker_Status, Hire_Date, Termination_Date,
    Company, Cost_Center, Department, Job_Profile, Location, Time_Zone, Manager_ID,
    Hourly_Cost_Rate, Currency, Compensation_Plan, Effective_Date, Last_Updated``.
    Prompts: ``Effective_as_of_Date`` (``2024-05-01`` or ``2024-05-01-07:00``; default today in
    the tenant's offset), ``Updated_From``/``Updated_Through`` (date or dateTime, inclusive).
    Workers hired after the as-of date are left out. A worker is ``Terminated`` (with
    ``Termination_Date``) when the as-of date is after the termination date (Workday's
    termination date is the last day worked); before that the worker is ``Active`` and the
    termination date is not shown. The organisation columns (``Company`` to ``Manager_ID``) are
    the assignment in effect on the as-of date; a worker with none then shows those of the
    worker record. The rate columns and ``Effective_Date`` are the cost-rate version in effect
    on the as-of date, empty when none. ``Last_Updated`` is the latest ``Last_Updated`` of the
    worker and all their rate and assignment versions, and the ``Updated_*`` prompts select
    workers whose record or any version changed in the range.

``PSA_Worker_Cost_Rates`` — one entry per effective-dated cost-rate version.
    Columns: ``Employee_ID, Worker, Work_Email, Company, Cost_Center, Worker_Status,
    Effective_Date, End_Date, Hourly_Cost_Rate, Currency, Compensation_Plan, Last_Updated``
    (worker columns joined by ``Employee_ID``, empty for a rate without a worker;
    ``Company``/``Cost_Center`` from the assignment in effect on the rate's ``Effective_Date``,
    as for ``PSA_Workers``).
    Prompts: ``Effective_From``/``Effective_Through`` (versions whose validity overlaps the range),
    ``Effective_as_of_Date`` (shorthand for both ends on one date), ``Updated_From``/
    ``Updated_Through`` (on the version's ``Last_Updated``).

``PSA_Worker_Assignments`` — one entry per assignment version.
    Columns: ``Employee_ID, Worker, Work_Email, Worker_Status, Effective_Date, End_Date,
    Company, Cost_Center, Department, Job_Profile, Location, Time_Zone, Manager_ID,
    Last_Updated`` (``Worker``, ``Work_Email``, ``Worker_Status`` joined by ``Employee_ID`` as
    stored, empty for an assignment without a worker). Prompts as ``PSA_Worker_Cost_Rates``.

Entries are sorted by ``Employee_ID`` (then ``Effective_Date``). A date-only ``Updated_*``
bound covers the whole day in the tenant's offset; dateTimes without an offset are read in it.

Errors are undocumented [U]. The sandbox answers ``{"error": "<message>"}`` with the HTTP status
(401 ``invalid username or password``, 404 unknown report, 400 bad prompt value or unknown
prompt), or a SOAP fault (the shape of Workday's SOAP API errors) with ``error_format: soap``.
Injected 503s answer an HTML maintenance page, as Workday's edge does during its weekly window.

Switches (``PATCH /_sandbox/switches/hcm``), defaults in :attr:`WorkdayVendor.default_switches`:

``empty_value``             ``omit`` (leave empty fields out of an entry, as the reference's
                            example shows) or the string to send instead (``""``); CSV cells
                            are always blank.
``date_with_offset``        answer dates with the tenant's offset (``2024-05-01-07:00``) instead
                            of plain ``2024-05-01``.
``tenant_utc_offset``       the tenant's UTC offset (``+00:00``), for the above and for
                            date-only prompts.
``error_format``            ``json`` or ``soap`` (see Errors).
``reject_unknown_prompts``  answer 400 to a prompt the report does not define, so a misspelt
                            prompt never silently returns the unfiltered report.
"""

from __future__ import annotations

import base64
import csv
import hmac
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, ClassVar
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from sandbox.faults import FaultRule, VendorResponses
from sandbox.vendor import Vendor

ORG_COLUMNS = (
    "Company",
    "Cost_Center",
    "Department",
    "Job_Profile",
    "Location",
    "Time_Zone",
    "Manager_ID",
)
WORKER_COLUMNS = (
    "Employee_ID",
    "Worker",
    "Work_Email",
    "Worker_Status",
    "Hire_Date",
    "Termination_Date",
    *ORG_COLUMNS,
)
RATE_COLUMNS = ("Hourly_Cost_Rate", "Currency", "Compensation_Plan")
VERSION_PROMPTS = frozenset(
    {
        "Effective_From",
        "Effective_Through",
        "Effective_as_of_Date",
        "Updated_From",
        "Updated_Through",
    }
)
DATE_COLUMNS = frozenset({"Hire_Date", "Termination_Date", "Effective_Date", "End_Date"})
_DATE_PROMPT = re.compile(r"^(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?$")
AUTH_FAILED = "invalid username or password"


@dataclass(frozen=True)
class Report:
    """A web-service-enabled custom report: its columns and prompts."""

    name: str
    columns: tuple[str, ...]
    prompts: frozenset[str]


REPORTS: dict[str, Report] = {
    r.name: r
    for r in (
        Report(
            "PSA_Workers",
            (*WORKER_COLUMNS, *RATE_COLUMNS, "Effective_Date", "Last_Updated"),
            frozenset({"Effective_as_of_Date", "Updated_From", "Updated_Through"}),
        ),
        Report(
            "PSA_Worker_Cost_Rates",
            (
                "Employee_ID",
                "Worker",
                "Work_Email",
                "Company",
                "Cost_Center",
                "Worker_Status",
                "Effective_Date",
                "End_Date",
                *RATE_COLUMNS,
                "Last_Updated",
            ),
            VERSION_PROMPTS,
        ),
        Report(
            "PSA_Worker_Assignments",
            (
                "Employee_ID",
                "Worker",
                "Work_Email",
                "Worker_Status",
                "Effective_Date",
                "End_Date",
                *ORG_COLUMNS,
                "Last_Updated",
            ),
            VERSION_PROMPTS,
        ),
    )
}


class WorkdayError(Exception):
    """A request Workday refuses: HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- values -----------------------------------------------------------------------------------


def parse_offset(text: str) -> timezone:
    """``+02:00`` / ``-07:00`` / ``Z`` as a timezone."""
    if text in ("Z", ""):
        return UTC
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def as_date(value: Any) -> date | None:
    """A stored date (``YYYY-MM-DD``, possibly with an offset), or None when empty or invalid."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def as_moment(value: Any, tz: timezone) -> datetime | None:
    """A stored date or dateTime as an aware datetime (dates at midnight in ``tz``)."""
    if not isinstance(value, str) or not value:
        return None
    match = _DATE_PROMPT.match(value)
    if match:
        day = date.fromisoformat(match[1])
        return datetime(
            day.year, day.month, day.day, tzinfo=parse_offset(match[2]) if match[2] else tz
        )
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _sort_key(employee_id: Any) -> tuple[int, str]:
    text = str(employee_id or "")
    return len(text), text


def _by_employee(versions: list[dict[str, Any]]) -> dict[Any, list[dict[str, Any]]]:
    grouped: dict[Any, list[dict[str, Any]]] = {}
    for version in versions:
        grouped.setdefault(version.get("Employee_ID"), []).append(version)
    return grouped


def version_as_of(versions: list[dict[str, Any]], day: date) -> dict[str, Any]:
    """The effective-dated version in effect on ``day`` (latest start wins), or ``{}``."""
    best: dict[str, Any] = {}
    for version in versions:
        start, stop = as_date(version.get("Effective_Date")), as_date(version.get("End_Date"))
        if start is None or start > day or (stop is not None and stop < day):
            continue
        if not best or start >= as_date(best.get("Effective_Date")):  # type: ignore[operator]
            best = version
    return best


def organisation(
    worker: dict[str, Any], assignments: list[dict[str, Any]], day: date | None
) -> dict[str, Any]:
    """The organisation columns of the assignment in effect on ``day``.

    A worker with no assignment in effect that day (or no ``day``) shows the organisation
    fields of their worker record.
    """
    source = (version_as_of(assignments, day) if day else {}) or worker
    return {column: source.get(column) for column in ORG_COLUMNS}


# --- the service ----------------------------------------------------------------------------


class WorkdayVendor(Vendor):
    """Workday RaaS: ``PSA_Workers``, ``PSA_Worker_Cost_Rates``, ``PSA_Worker_Assignments``."""

    name = "hcm"
    title = "Workday RaaS custom reports (sandbox)"
    ddl = "CREATE INDEX IF NOT EXISTS hcm_employee_idx ON record (type, (data->>'Employee_ID'));\n"
    default_switches: ClassVar[dict[str, Any]] = {
        "empty_value": "omit",
        "date_with_offset": False,
        "tenant_utc_offset": "+00:00",
        "error_format": "json",
        "reject_unknown_prompts": True,
    }

    def responses(self) -> VendorResponses:
        """Workday-like error bodies for injected faults."""
        return WorkdayResponses(self)

    @property
    def tz(self) -> timezone:
        """The tenant's UTC offset."""
        return parse_offset(str(self.ctx.switches["tenant_utc_offset"]))

    def routes(self, app: FastAPI) -> None:
        """Add the RaaS route."""

        async def routing_error(request: Request, exc: StarletteHTTPException) -> Response:
            return self.error(
                exc.status_code, "Resource not found" if exc.status_code == 404 else str(exc.detail)
            )

        app.add_exception_handler(StarletteHTTPException, routing_error)  # type: ignore[arg-type]

        @app.get("/ccx/service/customreport2/{tenant}/{owner}/{report}")
        def custom_report(request: Request, tenant: str, owner: str, report: str) -> Response:
            try:
                self.authenticate(tenant, request.headers.get("authorization"))
                return self.run_report(owner, report, dict(request.query_params))
            except WorkdayError as exc:
                return self.error(exc.status, exc.message)

    def error(self, status: int, message: str) -> Response:
        """An error in the configured format (``error_format``)."""
        if self.ctx.switches["error_format"] != "soap":
            return JSONResponse({"error": message}, status_code=status)
        code = {401: "Client.authenticationError", 400: "Client.validationError"}.get(
            status, "Client" if status < 500 else "Server"
        )
        body = (
            "<?xml version='1.0' encoding='UTF-8'?>"
            '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
            '<SOAP-ENV:Body><SOAP-ENV:Fault xmlns:wd="urn:com.workday/bsvc">'
            f"<faultcode>SOAP-ENV:{code}</faultcode><faultstring>{escape(message)}</faultstring>"
            "</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>"
        )
        return Response(body, status_code=status, media_type="text/xml; charset=UTF-8")

    def authenticate(self, tenant: str, authorization: str | None) -> None:
        """Check HTTP Basic credentials and the tenant; raise a 401 otherwise."""
        credentials = self.ctx.credentials
        scheme, _, encoded = (authorization or "").partition(" ")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except ValueError:
            decoded = ""
        username, _, password = decoded.partition(":")
        users = (credentials["username"], f"{credentials['username']}@{credentials['tenant']}")
        if (
            scheme.lower() != "basic"
            or tenant != credentials["tenant"]
            or username not in users
            or not hmac.compare_digest(password.encode(), credentials["password"].encode())
        ):
            raise WorkdayError(401, AUTH_FAILED)

    # --- reports -------------------------------------------------------------------------

    def run_report(self, owner: str, name: str, params: dict[str, str]) -> Response:
        """Run a report with its prompts and answer it in the requested format."""
        report = REPORTS.get(name)
        if report is None or owner != self.ctx.credentials["report_owner"]:
            raise WorkdayError(
                404,
                f"The report '{name}' of '{owner}' does not exist or is not web-service enabled",
            )
        fmt = params.pop("format", None)
        if fmt not in (None, "json", "csv", "simplexml"):
            raise WorkdayError(400, f"Invalid format '{fmt}'")
        unknown = sorted(set(params) - report.prompts)
        if unknown and self.ctx.switches["reject_unknown_prompts"]:
            raise WorkdayError(400, f"Invalid prompt '{unknown[0]}' for report '{name}'")
        records = self.load()
        workers, rates = records["worker"], records["cost_rate"]
        assignments = _by_employee(records["assignment"])

        def rate_columns(worker: dict[str, Any], rate: dict[str, Any]) -> dict[str, Any]:
            history = assignments.get(rate.get("Employee_ID"), [])
            return {
                **organisation(worker, history, as_date(rate.get("Effective_Date"))),
                **{c: rate.get(c) for c in RATE_COLUMNS},
            }

        def assignment_columns(worker: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
            return {c: version.get(c) for c in ORG_COLUMNS}

        if name == "PSA_Workers":
            rows = self.workers_report(workers, _by_employee(rates), assignments, params)
        elif name == "PSA_Worker_Cost_Rates":
            rows = self.versions_report(rates, workers, params, rate_columns)
        else:
            rows = self.versions_report(records["assignment"], workers, params, assignment_columns)
        return self.answer(report, [self.present(row, report.columns) for row in rows], fmt)

    def load(self) -> dict[str, list[dict[str, Any]]]:
        """Every worker, cost-rate and assignment record by type, in id order."""
        with self.ctx.store.connection() as conn:
            rows = conn.execute(
                "SELECT type, data FROM record "
                "WHERE type IN ('worker', 'cost_rate', 'assignment') ORDER BY id"
            ).fetchall()
        loaded: dict[str, list[dict[str, Any]]] = {"worker": [], "cost_rate": [], "assignment": []}
        for row in rows:
            loaded[row["type"]].append(row["data"])  # type: ignore[call-overload]
        return loaded

    def prompt_date(self, params: dict[str, str], name: str) -> date | None:
        """A date prompt (``2024-05-01`` or ``2024-05-01-07:00``), or None when absent."""
        value = params.get(name)
        if value is None:
            return None
        match = _DATE_PROMPT.match(value)
        day = as_date(match[1]) if match else None
        if day is None:
            raise WorkdayError(400, f"Invalid value for prompt '{name}': '{value}'")
        return day

    def prompt_moment(self, params: dict[str, str], name: str, *, end: bool) -> datetime | None:
        """A date or dateTime prompt; a date-only upper bound covers its whole day."""
        value = params.get(name)
        if value is None:
            return None
        moment = as_moment(value, self.tz)
        if moment is None:
            raise WorkdayError(400, f"Invalid value for prompt '{name}': '{value}'")
        if end and _DATE_PROMPT.match(value):
            moment += timedelta(days=1, microseconds=-1)
        return moment

    def updated_filter(self, params: dict[str, str]) -> Any:
        """A predicate on ``Last_Updated`` values from ``Updated_From``/``Updated_Through``."""
        low = self.prompt_moment(params, "Updated_From", end=False)
        high = self.prompt_moment(params, "Updated_Through", end=True)
        tz = self.tz

        def matches(stamps: Iterable[Any]) -> bool:
            if low is None and high is None:
                return True
            for stamp in stamps:
                moment = as_moment(stamp, tz)
                if moment and (low is None or moment >= low) and (high is None or moment <= high):
                    return True
            return False

        return matches

    def workers_report(
        self,
        workers: list[dict[str, Any]],
        rates: dict[Any, list[dict[str, Any]]],
        assignments: dict[Any, list[dict[str, Any]]],
        params: dict[str, str],
    ) -> list[dict[str, Any]]:
        """``PSA_Workers`` rows (see the module docstring).

        Args:
            workers: the worker records.
            rates: cost-rate versions by ``Employee_ID``.
            assignments: assignment versions by ``Employee_ID``.
            params: the prompts.
        """
        as_of = self.prompt_date(params, "Effective_as_of_Date") or datetime.now(self.tz).date()
        updated = self.updated_filter(params)
        rows = []
        for worker in sorted(workers, key=lambda w: _sort_key(w.get("Employee_ID"))):
            hired = as_date(worker.get("Hire_Date"))
            if hired and hired > as_of:
                continue
            versions = rates.get(worker.get("Employee_ID"), [])
            history = assignments.get(worker.get("Employee_ID"), [])
            stamps = [worker.get("Last_Updated"), *(v.get("Last_Updated") for v in versions)]
            stamps.extend(a.get("Last_Updated") for a in history)
            if not updated(stamps):
                continue
            row = {column: worker.get(column) for column in WORKER_COLUMNS}
            row.update(organisation(worker, history, as_of))
            terminated = as_date(worker.get("Termination_Date"))
            if terminated and terminated < as_of:
                row["Worker_Status"] = "Terminated"
            elif terminated:
                row["Termination_Date"] = None
                if row["Worker_Status"] == "Terminated":
                    row["Worker_Status"] = "Active"
            current = version_as_of(versions, as_of)
            row.update({column: current.get(column) for column in RATE_COLUMNS})
            row["Effective_Date"] = current.get("Effective_Date")
            row["Last_Updated"] = self.latest(stamps)
            rows.append(row)
        return rows

    def latest(self, stamps: list[Any]) -> Any:
        """The latest of these ``Last_Updated`` values, as stored."""
        dated = [(m, s) for s in stamps if (m := as_moment(s, self.tz)) is not None]
        return max(dated, key=lambda pair: pair[0])[1] if dated else None

    def versions_report(
        self,
        versions: list[dict[str, Any]],
        workers: list[dict[str, Any]],
        params: dict[str, str],
        columns: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """Rows of a report of effective-dated versions (see the module docstring).

        Args:
            versions: the cost-rate or assignment records.
            workers: the worker records, joined by ``Employee_ID``.
            params: the prompts.
            columns: the report's own columns of a version, from its worker (``{}`` when none)
                and the version.
        """
        as_of = self.prompt_date(params, "Effective_as_of_Date")
        low = self.prompt_date(params, "Effective_From") or as_of
        high = self.prompt_date(params, "Effective_Through") or as_of
        updated = self.updated_filter(params)
        by_id: dict[Any, dict[str, Any]] = {}
        for worker in workers:
            by_id.setdefault(worker.get("Employee_ID"), worker)
        rows = []
        ordered = sorted(
            versions,
            key=lambda v: (_sort_key(v.get("Employee_ID")), str(v.get("Effective_Date") or "")),
        )
        for version in ordered:
            start, stop = as_date(version.get("Effective_Date")), as_date(version.get("End_Date"))
            if low is not None and stop is not None and stop < low:
                continue
            if high is not None and start is not None and start > high:
                continue
            if not updated([version.get("Last_Updated")]):
                continue
            worker = by_id.get(version.get("Employee_ID"), {})
            row = {c: worker.get(c) for c in ("Worker", "Work_Email", "Worker_Status")}
            row.update(columns(worker, version))
            row.update(
                {
                    c: version.get(c)
                    for c in ("Employee_ID", "Effective_Date", "End_Date", "Last_Updated")
                }
            )
            rows.append(row)
        return rows

    # --- answers -------------------------------------------------------------------------

    def present(self, row: dict[str, Any], columns: tuple[str, ...]) -> dict[str, str]:
        """A row as RaaS sends it: strings, report column order, empties per ``empty_value``."""
        out: dict[str, str] = {}
        with_offset = bool(self.ctx.switches["date_with_offset"])
        offset = str(self.ctx.switches["tenant_utc_offset"])
        for column in columns:
            value = row.get(column)
            if value is None or value == "":
                if self.ctx.switches["empty_value"] != "omit":
                    out[column] = str(self.ctx.switches["empty_value"])
                continue
            text = ("1" if value else "0") if isinstance(value, bool) else str(value)
            if with_offset and column in DATE_COLUMNS and as_date(text):
                text = text[:10] + offset
            out[column] = text
        return out

    def answer(self, report: Report, entries: list[dict[str, str]], fmt: str | None) -> Response:
        """The report in the requested format."""
        if fmt == "json":
            return JSONResponse({"Report_Entry": entries})
        if fmt == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\r\n")
            writer.writerow(report.columns)
            writer.writerows([[e.get(c, "") for c in report.columns] for e in entries])
            return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8")
        prefix = "" if fmt == "simplexml" else "wd:"
        root = ET.Element(f"{prefix}Report_Data")
        if prefix:
            root.set("xmlns:wd", f"urn:com.workday.report/{report.name}")
        for entry in entries:
            node = ET.SubElement(root, f"{prefix}Report_Entry")
            for column, value in entry.items():
                ET.SubElement(node, f"{prefix}{column}").text = value
        body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return Response(body, media_type="application/xml; charset=utf-8")


MAINTENANCE_PAGE = (
    "<!DOCTYPE html><html><head><title>Workday is unavailable</title></head><body>"
    "<h1>Workday is currently unavailable</h1><p>Workday is undergoing scheduled maintenance. "
    "Please try again later.</p></body></html>"
)


class WorkdayResponses(VendorResponses):
    """Workday-like answers to injected faults (undocumented [U]; see the module docstring)."""

    def __init__(self, vendor: WorkdayVendor) -> None:
        self.vendor = vendor

    def status(self, rule: FaultRule) -> Response:
        """503: the HTML maintenance page; others: the configured error body."""
        if rule.status == 503:
            return Response(MAINTENANCE_PAGE, status_code=503, media_type="text/html")
        messages = {
            401: AUTH_FAILED,
            403: "The task submitted is not authorized.",
            429: "Too many requests. Please retry later.",
            500: "An internal error occurred.",
        }
        return self.vendor.error(rule.status, messages.get(rule.status, f"HTTP {rule.status}"))

    def token_expired(self) -> Response:
        """The 401 answered to rejected credentials."""
        return self.vendor.error(401, AUTH_FAILED)

    def concurrency_exceeded(self, rule: FaultRule) -> Response:
        """Too many report runs at once: 429 (undocumented [U])."""
        return self.vendor.error(429, "Too many concurrent report requests. Please retry later.")
