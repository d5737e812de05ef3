#!/usr/bin/env bash
# A private PostgreSQL primary with a streaming-replication standby, for the failover test
# (Debian's packages; the primary is scripts/pg-test-server.sh's server, in DIR/primary).
#   scripts/pg-failover.sh start DIR         prints the multi-host URL of database "ecp_test"
#   scripts/pg-failover.sh stop-primary DIR  the primary dies (pg_ctl stop -m immediate)
#   scripts/pg-failover.sh promote DIR       the standby becomes the primary
#   scripts/pg-failover.sh stop DIR          both stop
# Replication is synchronous (the primary's commit returns once the standby has the WAL):
# with asynchronous replication a commit the app was told about could be missing on the
# promoted standby, and no retry in the app could bring it back.
set -euo pipefail
cmd=$1 dir=$2
here=$(cd "$(dirname "$0")" && pwd)
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -n $bin ]] || { echo "pg-failover: PostgreSQL is not installed" >&2; exit 1; }
as_owner=(); [[ $(id -u) -eq 0 ]] && as_owner=(runuser -u postgres --)

mkdir -p "$dir/standby"
dir=$(cd "$dir" && pwd)
[[ $(id -u) -eq 0 ]] && chown postgres "$dir" "$dir/standby"  # a private mkdtemp dir is 0700
cd "$dir"  # the server's user must be able to stand in the working directory
psql() { PGOPTIONS="-c client_min_messages=warning" "$bin/psql" -h 127.0.0.1 -U postgres -qAt "$@"; }

case $cmd in
  start)
    # The primary: synchronous commits, so that what it acknowledged is on the standby too.
    primary_url=$(ECP_PG_PORT=${ECP_PG_PORT:-25532} ECP_PG_OPTIONS="-c synchronous_commit=on" \
      "$here/pg-test-server.sh" start "$dir/primary")
    p1=$(cat "$dir/primary/port")
    if [[ ! -f $dir/standby/data/PG_VERSION ]]; then
      # -R writes primary_conninfo and standby.signal; application_name names it for the primary.
      "${as_owner[@]}" "$bin/pg_basebackup" -h 127.0.0.1 -p "$p1" -U postgres -D "$dir/standby/data" \
        -R -X stream -c fast --no-sync -d "application_name=standby" >"$dir/standby/basebackup.log" 2>&1 \
        || { cat "$dir/standby/basebackup.log" >&2; exit 1; }
    fi
    p2=$((p1 + 1))
    for attempt in 1 2 3; do
      while (echo >"/dev/tcp/127.0.0.1/$p2") 2>/dev/null; do p2=$((p2 + 1)); done
      if "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/standby/data" -l "$dir/standby/server.log" -w -t 60 \
          -o "-p $p2 -k $dir/standby -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null; then
        break
      fi
      echo "pg-failover: the standby did not start on port $p2 (attempt $attempt); its log says:" >&2
      tail -n 15 "$dir/standby/server.log" >&2 || true
      [[ $attempt -eq 3 ]] && exit 1
      p2=$((p2 + 1))
    done
    echo "$p2" > "$dir/standby/port"
    # Only now synchronous: before, the primary's own CREATE DATABASE would wait for a standby.
    psql -p "$p1" -d postgres -c "ALTER SYSTEM SET synchronous_standby_names = 'standby'" -c "SELECT pg_reload_conf()" >/dev/null
    for _ in $(seq 1 300); do
      [[ $(psql -p "$p1" -d postgres -c "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'") == 1 ]] && break
      sleep 0.1
    done
    [[ $(psql -p "$p1" -d postgres -c "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'") == 1 ]] \
      || { echo "pg-failover: the standby does not replicate synchronously" >&2; tail -n 15 "$dir/standby/server.log" >&2; exit 1; }
    base=${primary_url%%/ecp_test}
    echo "$base,127.0.0.1:$p2/ecp_test?target_session_attrs=read-write"
    ;;
  stop-primary)
    "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/primary/data" -m immediate -w stop >/dev/null
    ;;
  promote)
    "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/standby/data" -w -t 60 promote >/dev/null
    ;;
  stop)
    [[ -f $dir/standby/data/postmaster.pid ]] && "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/standby/data" -m fast -w stop >/dev/null || true
    "$here/pg-test-server.sh" stop "$dir/primary"
    ;;
  *) echo "usage: $0 start|stop-primary|promote|stop DIR" >&2; exit 2 ;;
esac
