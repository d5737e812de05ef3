#!/usr/bin/env bash
# A private, throw-away PostgreSQL server for the test suite (Debian's packages).
#   scripts/pg-test-server.sh start DIR   prints the URL of a fresh database "ecp_test"
#   scripts/pg-test-server.sh stop DIR
# It listens on 127.0.0.1 only; the superuser is trusted (also for replication: a standby
# of it, scripts/pg-failover.sh), other roles need a password: for tests, never for real data.
# $ECP_PG_OPTIONS: more server options (-c name=value ...), after ours, so they win.
set -euo pipefail
cmd=$1 dir=$2
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -n $bin ]] || { echo "pg-test-server: PostgreSQL is not installed" >&2; exit 1; }
as_owner=(); [[ $(id -u) -eq 0 ]] && as_owner=(runuser -u postgres --)

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[[ $(id -u) -eq 0 ]] && chown postgres "$dir"
cd "$dir"  # the server's user must be able to stand in the working directory

case $cmd in
  start)
    if [[ ! -f $dir/data/PG_VERSION ]]; then
      "${as_owner[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 >"$dir/initdb.log"
      # The superuser is trusted; other roles need a password (the credential tests make one).
      printf '%s\n' "local all all trust" "host all postgres 127.0.0.1/32 trust" \
        "host replication postgres 127.0.0.1/32 trust" \
        "host all all 127.0.0.1/32 scram-sha-256" > "$dir/data/pg_hba.conf"
    fi
    # Below Linux's ephemeral range (32768-60999): a port there can be held by one of the
    # suite's own client connections, which the probe does not see but the bind does.
    # A failed start is still tried again on the next free port, and the server's own log
    # is shown if it does not come up.
    port=${ECP_PG_PORT:-25432}
    for attempt in 1 2 3; do
      while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
      if "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
          -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off ${ECP_PG_OPTIONS:-}" start >/dev/null; then
        break
      fi
      echo "pg-test-server: the server did not start on port $port (attempt $attempt); its log says:" >&2
      tail -n 15 "$dir/server.log" >&2 || true
      [[ $attempt -eq 3 ]] && exit 1
      port=$((port + 1))
    done
    echo "$port" > "$dir/port"
    PGOPTIONS="-c client_min_messages=warning" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -q -c "DROP DATABASE IF EXISTS ecp_test" \
      -c "CREATE DATABASE ecp_test" >/dev/null
    echo "postgresql://postgres@127.0.0.1:$port/ecp_test"
    ;;
  stop)
    [[ -f $dir/data/postmaster.pid ]] && "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
