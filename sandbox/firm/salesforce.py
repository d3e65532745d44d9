"""The firm as Salesforce (CRM) records: Accounts and Opportunities.

``IsWon``/``IsClosed`` are not stored (the service derives them from ``StageName``). The 18-char
``Id`` is also written to the row's ``external_id`` column so services can look records up by it.
"""

from __future__ import annotations

from collections.abc import Iterator

from sandbox.firm import dates
from sandbox.firm.model import Firm
from sandbox.store import RecordRow


def salesforce_records(firm: Firm) -> Iterator[RecordRow]:
    """Every CRM record."""
    sf = dates.salesforce_time
    for a in firm.accounts:
        kind = a.duplicate_of or a
        data = {
            "Id": a.sf_id,
            "Name": a.name,
            "Type": "Customer" if kind.won else "Prospect",
            "Industry": a.industry,
            "BillingCountry": a.entity.country_name,
            "BillingCity": a.city,
            "CurrencyIsoCode": a.entity.currency,
            "Legal_Entity__c": a.entity.code,
            "Payment_Terms__c": a.terms[0],
            "Tax_Id__c": a.tax_id,
            "OwnerId": a.owner_id,
            "ParentId": None,
            "IsDeleted": False,
            "CreatedDate": sf(a.created),
            "LastModifiedDate": sf(a.modified),
            "SystemModstamp": sf(a.modified),
        }
        yield RecordRow("Account", a.id, data, a.sf_id, a.created, a.modified)
    for p in firm.projects:
        if p.deal_id is None:
            continue
        assert p.account is not None and p.rate_card is not None
        assert p.deal_created is not None and p.deal_modified is not None
        data = {
            "Id": p.sf_id,
            "Name": p.title,
            "AccountId": p.account.sf_id,
            "StageName": p.stage,
            "CloseDate": p.close_date.isoformat() if p.close_date else None,
            "Amount": round(p.amount_cents / 100, 2) if p.amount_cents is not None else None,
            "CurrencyIsoCode": p.entity.currency,
            "Probability": p.probability,
            "Type": p.deal_type,
            "Billing_Model__c": p.billing_model,
            "Legal_Entity__c": p.entity.code,
            "Rate_Card__c": p.rate_card.title,
            "Practice__c": p.practice.name,
            "Start_Date__c": p.start.isoformat(),
            "End_Date__c": p.end.isoformat() if p.end else None,
            "Payment_Terms__c": p.account.terms[0],
            "OwnerId": p.owner_id,
            "IsDeleted": False,
            "CreatedDate": sf(p.deal_created),
            "LastModifiedDate": sf(p.deal_modified),
            "SystemModstamp": sf(p.deal_modified),
        }
        for name in p.missing:
            data[name] = None
        yield RecordRow("Opportunity", p.deal_id, data, p.sf_id, p.deal_created, p.deal_modified)
