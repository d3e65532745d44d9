"""The seeded firm behind the sandbox, and its rendering in each vendor's wire format.

``model`` builds the firm (people, clients, deals, projects, rate cards, cost rates) from a seed;
``defects`` plans the planted defects; ``billing`` invoices last month; ``timesheets`` streams the
month of time and expenses; ``kantata``, ``netsuite``, ``salesforce`` and ``workday`` render the
records each vendor stores. :mod:`sandbox.generator` ties them together.
"""
