#!/bin/sh
# Run by the `db-roles` services of compose.yaml with the postgres image's psql, as the superuser:
# the gateway's roles and grants (roles.sql is `gmail-gateway db roles`, kept equal by a test),
# then each role's password from the environment. Idempotent; runs before and after `migrate`.
set -eu
export PGHOST=postgres PGUSER=postgres PGDATABASE=gateway PGPASSWORD="$POSTGRES_PASSWORD"
psql -v ON_ERROR_STOP=1 -q -f /deploy/roles.sql
psql -v ON_ERROR_STOP=1 -q \
  -v owner_pw="$GATEWAY_OWNER_DB_PASSWORD" -v app_pw="$GATEWAY_APP_DB_PASSWORD" \
  -v purge_pw="$GATEWAY_PURGE_DB_PASSWORD" <<'SQL'
ALTER ROLE gateway_owner PASSWORD :'owner_pw';
ALTER ROLE gateway_app PASSWORD :'app_pw';
ALTER ROLE gateway_purge PASSWORD :'purge_pw';
SQL
