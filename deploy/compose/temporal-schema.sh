#!/bin/sh
# One-shot (docker-compose.yaml, service temporal-schema, image
# temporalio/admin-tools): create Temporal's two PostgreSQL databases and
# bring their schemas to the version of the admin-tools image. Safe to rerun:
# an existing database is kept and update-schema applies only what is
# missing. The password comes from SQL_PASSWORD, which temporal-sql-tool
# reads itself.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
# The example env file's placeholder is not a password. (PostgreSQL keeps
# the password it was initialised with: start over with down -v.)
if [ "$SQL_PASSWORD" = change-me ]; then
	echo "temporal-schema: replace the change-me values in .env.compose, then docker compose down -v and up again" >&2
	exit 1
fi
port=${DB_PORT:-5432}
schema=/etc/temporal/schema/postgresql/v12

sql() {
	temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$port" -u "$POSTGRES_USER" "$@"
}

for db in temporal:temporal temporal_visibility:visibility; do
	name=${db%%:*}
	dir=${db#*:}
	echo "temporal-schema: database $name"
	sql --db "$name" create
	sql --db "$name" setup-schema -v 0.0
	sql --db "$name" update-schema -d "$schema/$dir/versioned"
done
echo "temporal-schema: done"
