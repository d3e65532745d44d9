-- Posted versions to reverse (design §8): a version that is no longer the accepted one (a newer
-- version was accepted, or the entry was deleted at the source: any of its versions 'deleted')
-- and whose document is not refused and not yet reversed for it. While the newest version is
-- held, the posted one stands: it is reversed when its successor is accepted.
INSERT INTO _rev (
    doc_type, original_document_id, entity, source_id, source_version, state, staging_id,
    submission_id, cost_rate, cost_rate_effective_date
)
SELECT d.doc_type, d.document_id, v.entity, v.source_id, v.source_version, v.state,
       v.staging_id, v.submission_id, v.cost_rate, v.cost_rate_effective_date
FROM (
    SELECT 'time_entries' AS entity, te.source_id, te.source_version,
           CASE WHEN EXISTS (SELECT 1 FROM core.time_entry gone
                             WHERE gone.source_id = te.source_id AND gone.state = 'deleted')
                THEN 'deleted' ELSE te.state END AS state,
           te.staging_id, te.submission_id, te.cost_rate, te.cost_rate_effective_date,
           posted.document_id
    FROM core.time_entry te
    CROSS JOIN LATERAL (
        VALUES (te.time_bill_document_id), (te.journal_document_id)
    ) AS posted (document_id)
    WHERE te.state IN ('superseded', 'deleted')
      AND posted.document_id IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM core.time_entry held
          WHERE held.source_id = te.source_id AND held.state = 'held'
      )
    UNION ALL
    SELECT 'expenses', ex.source_id, ex.source_version,
           CASE WHEN EXISTS (SELECT 1 FROM core.expense gone
                             WHERE gone.source_id = ex.source_id AND gone.state = 'deleted')
                THEN 'deleted' ELSE ex.state END,
           ex.staging_id, ex.submission_id, NULL, NULL, ex.expense_report_document_id
    FROM core.expense ex
    WHERE ex.state IN ('superseded', 'deleted')
      AND ex.expense_report_document_id IS NOT NULL
      AND NOT EXISTS (
          SELECT 1 FROM core.expense held
          WHERE held.source_id = ex.source_id AND held.state = 'held'
      )
) v
JOIN posting.document d ON d.document_id = v.document_id AND d.status <> 'rejected'
WHERE (%(entities)s::text[] IS NULL OR d.entity_code = ANY (%(entities)s::text[]))
  AND NOT EXISTS (
      SELECT 1
      FROM posting.lineage l
      JOIN posting.document r ON r.document_id = l.document_id
      WHERE l.source_system = 'psa'
        AND l.entity = v.entity
        AND l.source_id = v.source_id
        AND l.source_version = v.source_version
        AND r.reverses_document_id = d.document_id
  )
