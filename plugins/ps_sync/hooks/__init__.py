"""One Airflow hook per vendor system (PSA, ERP, CRM, HCM)."""
