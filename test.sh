#!/usr/bin/env bash
# Set up (Debian packages, .venv, the package with test extras), start a private
# PostgreSQL server, and run the whole test suite on each backend. Arguments go to pytest
# (ECP_TEST_BACKENDS=sqlite ./test.sh runs one).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh test
pgdir=$(mktemp -d /tmp/ecp-test-pg.XXXXXX)
cleanup() { scripts/pg-test-server.sh stop "$pgdir"; rm -rf "$pgdir"; }
trap cleanup EXIT
ECP_TEST_POSTGRES_URL=$(scripts/pg-test-server.sh start "$pgdir")
export ECP_TEST_POSTGRES_URL
export QT_QPA_PLATFORM=offscreen
# The whole suite runs twice: on the embedded SQLite backend and on the PostgreSQL server
# (ECP_TEST_BACKEND); tests about the SQLite file itself are marked sqlite_only.
status=0
for backend in ${ECP_TEST_BACKENDS:-sqlite postgresql}; do
  echo "test.sh: the suite on $backend"
  set +e
  ECP_TEST_BACKEND=$backend .venv/bin/python -m pytest "$@"
  result=$?
  set -e
  if [[ $result -eq 5 ]]; then echo "test.sh: no tests were collected: that is a failure" >&2; result=1; fi
  if [[ $result -ne 0 ]]; then status=$result; fi
done
exit $status
