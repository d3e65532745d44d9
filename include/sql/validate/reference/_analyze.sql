-- Fresh statistics for the reloaded tables, before anything plans a join against them: with
-- the old ones (or none) the planner loops over workers and projects once per time entry.
ANALYZE core.entity_map, core.gl_account_map, core.service_item_map, core.expense_category_map,
        core.dimension_map, core.project, core.worker, core.worker_assignment, core.cost_rate,
        core.bill_rate, core.accounting_period
