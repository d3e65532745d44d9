"""ps-sync: keeps a professional-services firm's PSA, ERP, CRM, HCM and warehouse in sync.

The shared library behind the DAGs in ``dags/``: hooks (one per vendor system), operators that
stage, validate and post records through PostgreSQL, mappings, calendars and lineage.
"""

__version__ = "0.1.0"
