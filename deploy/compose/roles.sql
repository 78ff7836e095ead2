-- Roles of the Gmail gateway (gmail-gateway db roles). Run as a superuser: once
-- before the first `gmail-gateway migrate` (which then runs as "gateway_owner"), and again
-- after every migration. Passwords are set apart: \password <role> in psql.
BEGIN;
DO $$ BEGIN CREATE ROLE "gateway_owner" LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE "gateway_app" LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE "gateway_purge" LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
-- The owner (migration) role creates and owns the schema objects.
GRANT USAGE, CREATE ON SCHEMA "public" TO "gateway_owner";
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO "gateway_owner"', current_database()); END $$;
-- The purge role: the retention job only; dropping partitions needs ownership.
GRANT "gateway_owner" TO "gateway_purge";
-- The app role: the data tables in full, the log append-only.
DO $$
BEGIN
    IF to_regclass('"public"."audit_entries"') IS NULL THEN
        RAISE NOTICE 'no gateway tables yet: run gmail-gateway migrate as gateway_owner, then this again';
        RETURN;
    END IF;
    GRANT USAGE ON SCHEMA "public" TO "gateway_app";
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "public" TO "gateway_app";
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "public" TO "gateway_app";
    REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON "public"."alembic_version" FROM "gateway_app";
    REVOKE UPDATE, DELETE, TRUNCATE ON "public"."audit_entries", "public"."audit_checkpoints", "public"."audit_anchors" FROM "gateway_app";
    GRANT UPDATE (shard, seq, prev_hash, entry_hash) ON "public"."audit_entries" TO "gateway_app";
    REVOKE DELETE, TRUNCATE ON "public"."audit_chain_heads" FROM "gateway_app";
END
$$;
COMMIT;
