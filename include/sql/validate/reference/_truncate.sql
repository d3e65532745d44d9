-- Reference data is replaced as a whole on every load (docs/design §1): nothing references
-- these rows by key, and a half-replaced reference must never be seen (one transaction).
TRUNCATE core.entity_map, core.gl_account_map, core.service_item_map, core.expense_category_map,
         core.dimension_map, core.project, core.worker, core.worker_assignment, core.cost_rate,
         core.bill_rate, core.accounting_period
