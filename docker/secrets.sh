#!/bin/sh
# Makes docker/secrets/ for docker/compose.yaml, once, before its setup (docs/deploy.md): the
# PostgreSQL password (postgres_password, read by the postgres image's user, uid 999) and the
# regulator node's libpq password file (regulator.pgpass, read by medtrace's user, uid 10001).
# The nodes' passphrases are added by the compose setup. Run as root (it sets owners); it
# refuses to replace secrets that exist.
set -eu
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"
if [ -e "$dir/postgres_password" ] || [ -e "$dir/regulator.pgpass" ]; then
    echo "error: $dir already holds the PostgreSQL password; remove it to start over" >&2
    exit 1
fi
umask 077
password=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$password" > "$dir/postgres_password"
printf 'postgres:5432:regulator:medtrace:%s\n' "$password" > "$dir/regulator.pgpass"
chmod 0600 "$dir/postgres_password" "$dir/regulator.pgpass"
chown 999:999 "$dir/postgres_password"
chown 10001:10001 "$dir" "$dir/regulator.pgpass"
chmod 0700 "$dir"
echo "wrote $dir/postgres_password and $dir/regulator.pgpass (0600)"
