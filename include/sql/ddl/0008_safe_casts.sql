-- Casts that answer NULL instead of failing, for source values stored as received (staging,
-- reference loads) and typed later: one malformed value must hold its record with a reason, not
-- fail the whole batch. Plain SQL functions, so the planner inlines them (no per-row call) and
-- they run on PostgreSQL 15 (pg_input_is_valid is 16+).

-- A calendar date written YYYY-MM-DD ('2026-10-32', '2026-02-30', '31/10/2026' → NULL).
-- CASE, not AND: PostgreSQL does not promise to evaluate AND operands in order.
CREATE FUNCTION staging.try_date(value text) RETURNS date
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN value ~ '^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$' THEN
        CASE WHEN substr(value, 9, 2)::int <= extract(
                day FROM make_date(substr(value, 1, 4)::int, substr(value, 6, 2)::int, 1)
                         + interval '1 month' - interval '1 day')
            THEN make_date(substr(value, 1, 4)::int, substr(value, 6, 2)::int,
                           substr(value, 9, 2)::int)
        END
    END
$$;

-- A JSON whole number of at most 15 digits (a JSON string, a fraction or "ninety" → NULL).
CREATE FUNCTION staging.try_bigint(value jsonb) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN jsonb_typeof(value) = 'number' THEN
        CASE WHEN value::text ~ '^-?[0-9]{1,15}$' THEN value::text::bigint END
    END
$$;

-- An ISO 8601 instant with its offset (2026-10-14T17:05:00-04:00, ...Z); a naive or impossible
-- one → NULL.
CREATE FUNCTION staging.try_timestamptz(value text) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN value ~ ('^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]'
                              '(:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])$')
        THEN CASE WHEN staging.try_date(left(value, 10)) IS NOT NULL THEN value::timestamptz END
    END
$$;
