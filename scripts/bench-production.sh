#!/usr/bin/env bash
# The production-stack benchmark of the README: one `microdash api` and one `microdash worker`
# on the local MariaDB and Redis, loaded by `microdash-loadgen`. Uses a database and a key
# prefix of its own and removes them afterwards.
#
#   scripts/bench-production.sh [loadgen options...]
#   scripts/bench-production.sh --samples 2000000 --batch 1000 --concurrency 4
#   scripts/bench-production.sh --rate 1000 --batch 10 --duration 30s
#
# Env: MICRODASH_BIN (default target/release/microdash), MICRODASH_LOADGEN_BIN (default
# target/release/microdash-loadgen), BENCH_MYSQL (mysql://root@127.0.0.1:3306),
# BENCH_REDIS (redis://127.0.0.1:6379). The benchmark database is created and dropped with the
# local `mariadb -uroot` client, so BENCH_MYSQL must name that same server.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MICRODASH_BIN:-target/release/microdash}
loadgen=${MICRODASH_LOADGEN_BIN:-target/release/microdash-loadgen}
mysql=${BENCH_MYSQL:-mysql://root@127.0.0.1:3306}
redis=${BENCH_REDIS:-redis://127.0.0.1:6379}
db="md_bench_$$"
prefix="microdash-bench-$$:"
work=$(mktemp -d)
for exe in "$bin" "$loadgen"; do
  [ -x "$exe" ] || { echo "build first: cargo build --release -p microdash -p microdash-loadgen (or set MICRODASH_BIN, MICRODASH_LOADGEN_BIN)" >&2; exit 1; }
done

mariadb -uroot -e "CREATE DATABASE \`$db\`"
cleanup() {
  kill "${api_pid:-}" "${worker_pid:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  mariadb -uroot -e "DROP DATABASE IF EXISTS \`$db\`" || true
  redis-cli -u "$redis" --scan --pattern "${prefix}*" | xargs -r redis-cli -u "$redis" del >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

export MICRODASH_DATABASE_URL="$mysql/$db" MICRODASH_REDIS_URL="$redis" MICRODASH_REDIS_PREFIX="$prefix"
export MICRODASH_LOG=warn MICRODASH_SECRET="bench-secret-$$-0123456789abcdef0123456789"
"$bin" tenant create bench >/dev/null
"$bin" tenant set-quota bench --samples-per-minute 1000000000 >/dev/null
token=$("$bin" token create --tenant bench --json | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')

"$bin" api --http-addr 127.0.0.1:0 >"$work/api.out" 2>"$work/api.err" &
api_pid=$!
"$bin" worker 2>"$work/worker.err" &
worker_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/api.out" && break; sleep 0.1; done
url=$(sed -n 's/^microdash listening on \(http[^ ]*\).*/\1/p' "$work/api.out")
[ -n "$url" ] || { cat "$work/api.err" >&2; exit 1; }

echo "api pid $api_pid, worker pid $worker_pid, $url, database $db"
"$loadgen" --url "$url" --token "$token" --server-pid "$api_pid" "$@"
for role in api worker; do
  pid_var="${role}_pid"
  echo "$role peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' "/proc/${!pid_var}/status")," \
       "CPU: $(awk '{printf "%.1f s", ($14+$15)/100}' "/proc/${!pid_var}/stat")"
done
