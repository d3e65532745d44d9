-- core.bill_rate: the PSA rate cards' role rates, one row per rate card version; a version is
-- in force from its effective date to the day before the card's next version.
INSERT INTO core.bill_rate (rate_card_id, psa_role_id, effective_date, end_date, rate_in_cents,
                            currency)
WITH version AS (
    SELECT DISTINCT ON (doc ->> 'rate_card_id', staging.try_date(doc ->> 'effective_date'))
           doc ->> 'id' AS id,
           doc ->> 'rate_card_id' AS rate_card_id,
           staging.try_date(doc ->> 'effective_date') AS effective_date
    FROM _ref_doc
    WHERE kind = 'rate_card_version'
      AND staging.try_date(doc ->> 'effective_date') IS NOT NULL
    ORDER BY doc ->> 'rate_card_id', staging.try_date(doc ->> 'effective_date'),
             length(doc ->> 'id') DESC, doc ->> 'id' DESC
), dated AS (
    SELECT v.*,
           lead(v.effective_date) OVER (PARTITION BY v.rate_card_id ORDER BY v.effective_date)
               - 1 AS end_date
    FROM version v
), card AS (
    SELECT DISTINCT ON (doc ->> 'id')
           doc ->> 'id' AS id,
           CASE WHEN doc ->> 'currency' ~ '^[A-Z]{3}$' THEN doc ->> 'currency' END AS currency
    FROM _ref_doc
    WHERE kind = 'rate_card'
    ORDER BY doc ->> 'id'
)
SELECT DISTINCT ON (d.rate_card_id, r.doc ->> 'role_id', d.effective_date)
       d.rate_card_id,
       r.doc ->> 'role_id',
       d.effective_date,
       d.end_date,
       staging.try_bigint(r.doc -> 'rate_in_cents'),
       c.currency
FROM dated d
JOIN _ref_doc r ON r.kind = 'rate_card_role' AND r.doc ->> 'rate_card_version_id' = d.id
LEFT JOIN card c ON c.id = d.rate_card_id
WHERE r.doc ->> 'role_id' IS NOT NULL
  AND staging.try_bigint(r.doc -> 'rate_in_cents') IS NOT NULL
ORDER BY d.rate_card_id, r.doc ->> 'role_id', d.effective_date,
         length(r.doc ->> 'id') DESC, r.doc ->> 'id' DESC
