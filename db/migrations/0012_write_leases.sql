CREATE TABLE "write_leases" (
	"key" text PRIMARY KEY NOT NULL,
	"holder" text NOT NULL,
	"claim" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
-- Takes each grab's keys for its holder, all of them or none. A key is free when nobody holds it, its holder is the
-- grab's own (re-entrant: a retried write takes its lease back), or its lease has lapsed. Callers of the same keys
-- queue on transaction advisory locks taken in one order, so they never deadlock, and each decides on what the
-- previous one committed; the locks go with the transaction, so no session holds anything between calls. A key asked
-- for by two holders in one call goes to neither but the first (the caller keeps that from happening).
CREATE FUNCTION write_lease_claim(p_grabs json, p_ttl_ms double precision)
RETURNS TABLE(grab integer, won boolean) LANGUAGE plpgsql AS $$
DECLARE
  h integer;
BEGIN
  FOR h IN SELECT DISTINCT hashtext(r.k) FROM json_to_recordset(p_grabs) AS r(k text) ORDER BY 1 LOOP
    PERFORM pg_advisory_xact_lock(7460153, h);
  END LOOP;
  RETURN QUERY
  WITH req AS (SELECT r.g, r.k, r.h, r.c FROM json_to_recordset(p_grabs) AS r(g integer, k text, h text, c text)),
  verdict AS (
    SELECT r.g, bool_and((l.key IS NULL OR l.holder = r.h OR l.expires_at <= now())
      AND NOT EXISTS (SELECT 1 FROM req o WHERE o.k = r.k AND o.h <> r.h AND o.g < r.g)) AS ok
    FROM req r LEFT JOIN write_leases l ON l.key = r.k
    GROUP BY r.g
  ),
  taken AS (
    INSERT INTO write_leases AS l (key, holder, claim, expires_at)
    SELECT DISTINCT ON (r.k) r.k, r.h, r.c, now() + p_ttl_ms * interval '1 millisecond'
    FROM req r JOIN verdict v ON v.g = r.g AND v.ok
    ORDER BY r.k, r.g
    ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, claim = excluded.claim, expires_at = excluded.expires_at
    RETURNING 1
  )
  SELECT v.g, v.ok FROM verdict v;
END
$$;
