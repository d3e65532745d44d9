"""Local stand-ins for the vendor systems ps-sync talks to, in each vendor's real wire format.

PSA (Kantata OX API v1), ERP (NetSuite REST), CRM (Salesforce REST) and HCM (Workday RaaS), each
on its own loopback port and its own PostgreSQL database, seeded with a deterministic firm that
carries known defects, with fault injection and an admin API kept apart from the vendor APIs.
ps-sync reaches them only over HTTP. Start with ``python -m sandbox serve``.
"""
