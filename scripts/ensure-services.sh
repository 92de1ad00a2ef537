#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) are up for the tests.
# Starts them when installed but stopped; fails loudly when absent. Never skips.
set -euo pipefail

fail() { echo "ensure-services: $*" >&2; exit 1; }

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  command -v pg_ctlcluster >/dev/null || fail "PostgreSQL is not running on 127.0.0.1:5432 and pg_ctlcluster is not installed (apt-get install postgresql)"
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
  [ -n "$version" ] || fail "PostgreSQL is not running and no cluster exists under /etc/postgresql"
  echo "ensure-services: starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || fail "could not start PostgreSQL $version"
  for _ in $(seq 1 30); do pg_up && break; sleep 0.5; done
  pg_up || fail "PostgreSQL did not come up on 127.0.0.1:5432"
fi

if ! redis_up; then
  command -v redis-server >/dev/null || fail "Redis is not running on 127.0.0.1:6379 and redis-server is not installed (apt-get install redis-server)"
  echo "ensure-services: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || fail "could not start Redis"
  for _ in $(seq 1 30); do redis_up && break; sleep 0.2; done
  redis_up || fail "Redis did not come up on 127.0.0.1:6379"
fi

# The role the tests connect as must be able to create the test database.
psql -h 127.0.0.1 -U postgres -tAc "select 1" >/dev/null 2>&1 \
  || fail "cannot connect to PostgreSQL as role 'postgres' on 127.0.0.1:5432 (trust auth expected)"
echo "ensure-services: PostgreSQL and Redis are up"

# Headless Chromium for the browser tests (Debian's package; Playwright drives it).
if [ ! -x /usr/bin/chromium ]; then
  echo "ensure-services: installing Debian's chromium for the browser tests"
  command -v apt-get >/dev/null || fail "chromium is not installed and apt-get is not available"
  { apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; }; } \
    || fail "could not install chromium (apt-get install chromium); the browser tests need it"
fi
