#!/usr/bin/env bash
# Set up (Debian packages, .venv, the package with test extras), start a private
# PostgreSQL server, and run the whole test suite. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh test
pgdir=$(mktemp -d /tmp/ecp-test-pg.XXXXXX)
cleanup() { scripts/pg-test-server.sh stop "$pgdir"; rm -rf "$pgdir"; }
trap cleanup EXIT
ECP_TEST_POSTGRES_URL=$(scripts/pg-test-server.sh start "$pgdir")
export ECP_TEST_POSTGRES_URL
export QT_QPA_PLATFORM=offscreen
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [[ $status -eq 5 ]]; then echo "test.sh: no tests were collected: that is a failure" >&2; exit 1; fi
exit $status
