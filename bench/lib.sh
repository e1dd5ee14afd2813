# Sourced by scripts/load and scripts/bench: wrk, free ports, and servers under load (a release
# `chatsource serve` on a fresh data dir, the bare reader), each started on a free loopback port
# so that runs of other worktrees on the same machine do not collide.
# Expects to be run from the repository root, with the binaries built in "$release".
release=${CARGO_TARGET_DIR:-target}/release

# wrk from Debian's package when missing (root here; sudo elsewhere, never a password prompt).
need_wrk() {
  command -v wrk >/dev/null && return 0
  local sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo -n"
  echo "installing wrk (Debian package)" >&2
  $sudo apt-get install -y -q wrk >/dev/null \
    || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q wrk >/dev/null; } \
    || { echo "cannot install wrk: install it (apt-get install wrk) and run again" >&2; return 1; }
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_answer PID URL [curl args...]: until URL answers 2xx, or the process is gone, or 30 s.
wait_answer() {
  local pid=$1
  shift
  for _ in $(seq 300); do
    curl -sf -o /dev/null "$@" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# start_serve DATA_DIR API_KEY: sets serve_pid and serve_base; the server's log is DATA_DIR/serve.log.
# Logging stays at the product's default (info, a line per webhook), as a user runs it.
start_serve() {
  local data=$1 key=$2 port
  port=$(free_port)
  serve_base="http://127.0.0.1:$port"
  "$release/chatsource" serve --addr "127.0.0.1:$port" --data-dir "$data" --api-key "$key" \
    > "$data/serve.log" 2>&1 &
  serve_pid=$!
  wait_answer "$serve_pid" "$serve_base/api/sites" -H "authorization: Bearer $key" \
    || { echo "chatsource serve did not start; see $data/serve.log" >&2; return 1; }
}

# start_bare: sets bare_pid and bare_base (the bare reader answers every path).
start_bare() {
  local port
  port=$(free_port)
  bare_base="http://127.0.0.1:$port"
  "$release/bare-reader" --addr "127.0.0.1:$port" &
  bare_pid=$!
  wait_answer "$bare_pid" -X POST "$bare_base/" || { echo "bare-reader did not start" >&2; return 1; }
}

# stop PID: ends one process we started, and waits for it so its port and CPU are free.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
