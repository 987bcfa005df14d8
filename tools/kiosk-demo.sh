#!/usr/bin/env bash
# `make kiosk-demo`: the store terminal's pages on a development machine, in one command.
#
#   1. the reference carrier server on loopback; 2. the device provisioned with a one-time token;
#   3. the customer: a clip rendered from a photo (as in `make demo`: the shared data's img2.jpg, else the
#      embedded sample) performing the challenge order the agent is configured to ask for;
#   4. the agent (`edge-agent serve`) with that clip as its camera; 5. the kiosk (`edge-agent kiosk`).
# Then it prints the customer page's and the clerk panel's URLs and waits: Ctrl-C stops every process it started.
# Each verification started from the clerk panel replays the clip from its start, so every one can pass.
# Upload the reference photo it prints (or any photo) on the clerk panel.
#   KIOSK_PORT (default 8080), SEED (0..5, default random), KEEP=1 keeps the working folder.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
photos=$("$here/tools/demo-local.sh" --check "$@")  # the demo's photo rules; refused here when one is missing
reference=$(sed -n 's/^demo photos: reference \(.*\), customer .*/\1/p' <<<"$photos")
customer=$(sed -n 's/^demo photos: reference .*, customer \(.*\)/\1/p' <<<"$photos")
ea=${EDGE_AGENT:-$here/.venv/bin/edge-agent}
py=$(dirname "$ea")/python
kiosk_port=${KIOSK_PORT:-8080}
seed=${SEED:-$((RANDOM % 6))}
work=$(mktemp -d -t edge-agent-kiosk.XXXXXX)
chmod 0710 "$work"  # the socket's group must pass through (see demo-local.sh)
pids=()

stop() {  # stop PID: SIGTERM, up to 20 s to finish (the agent drains its API and sender), then SIGKILL
    local pid=$1 until=$((SECONDS + 20))
    kill "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= until)); then
            echo "kiosk-demo: process $pid did not stop in 20 s: killed" >&2
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    trap - INT TERM EXIT
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop "${pids[i]}"; done  # kiosk, agent, carrier: reverse order
    if [[ "${KEEP:-0}" == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'echo; echo "stopping the kiosk, the agent and the carrier"; exit 0' INT TERM

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for SECONDS WHAT COMMAND...
    local until=$((SECONDS + $1)) what=$2; shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < until)) || { echo "kiosk-demo: error: timed out waiting for $what (logs in $work; KEEP=1 keeps them)" >&2; return 1; }
        sleep 0.3
    done
}
step() { printf '\n== %s\n' "$*"; }

# the kiosk's port first: a taken port is refused before anything starts, with the fix
"$py" -c 'import sys; from edge_agent.kiosk.command import check_port; check_port("127.0.0.1", int(sys.argv[1]))' \
    "$kiosk_port" 2>/dev/null || {
    echo "kiosk-demo: error: port $kiosk_port on 127.0.0.1 is taken (another kiosk?): stop it or KIOSK_PORT=N make kiosk-demo" >&2
    exit 2
}
port=$(free_port)
enroll_port=$(free_port)

step "1. carrier on 127.0.0.1:$port (mTLS results) and :$enroll_port (enrolment)"
"$ea" carrier-server --state "$work/carrier" init >/dev/null
"$ea" carrier-server --state "$work/carrier" run --port "$port" --enroll-port "$enroll_port" >"$work/carrier.log" 2>&1 &
pids+=($!)
wait_for 60 "the carrier" grep -q "carrier listening" "$work/carrier.log"

cat >"$work/config.toml" <<EOF
state_dir = "$work/device"
log_format = "json"
[camera]
source = "$work/customer.avi"
[api]
socket = "$work/agent.sock"
socket_group = "$(id -gn)"
[liveness]
seed = $seed  # demo only: the clip performs this order; a device leaves it at -1 (random)
EOF
step "2. device provisioned (one-time token, the demo's configuration)"
token=$("$ea" carrier-server --state "$work/carrier" token --ttl-hours 1)
"$ea" provision --config "$work/config.toml" --state "$work/device" --carrier "127.0.0.1:$port" \
    --enroll "127.0.0.1:$enroll_port" --token "$token" --ca "$work/carrier/ca.pem" >"$work/provision.log"
grep -E '^(device_id|result):' "$work/provision.log"

step "3. customer: $(basename "$customer") rendered in 3-D, performing challenge order $seed"
"$ea" simulate "$customer" --seed "$seed" --out "$work/customer.avi"

step "4. agent: edge-agent serve, camera = that clip"
"$ea" serve --config "$work/config.toml" >"$work/agent.out" 2>"$work/agent.log" &
pids+=($!)
wait_for 120 "the agent" env EDGE_AGENT_SOCKET="$work/agent.sock" "$ea" terminal health

step "5. kiosk on 127.0.0.1:$kiosk_port"
launch_opt=()  # a kiosk that has a per-boot launch secret writes its launch URL here
if "$ea" kiosk --help | grep -q -- --launch-file; then launch_opt=(--launch-file "$work/kiosk-launch-url"); fi
"$ea" kiosk --socket "$work/agent.sock" --listen "127.0.0.1:$kiosk_port" "${launch_opt[@]}" \
    >"$work/kiosk.out" 2>"$work/kiosk.log" &
kiosk=$!
pids+=("$kiosk")
if ! wait_for 60 "the kiosk" "$py" -c 'import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass  # it answers (a kiosk that wants its launch secret says 401)' "http://127.0.0.1:$kiosk_port/config.json"; then
    cat "$work/kiosk.out" "$work/kiosk.log" >&2
    exit 1
fi
base="http://127.0.0.1:$kiosk_port"
customer_url="$base/customer" clerk_url="$base/operator"
if [[ ${#launch_opt[@]} -gt 0 ]]; then  # the launch URL logs the browser in, then lands on its next= page
    wait_for 30 "the kiosk's launch URL" test -s "$work/kiosk-launch-url"
    at() { "$py" -c 'import sys, urllib.parse as u
url = u.urlsplit(sys.argv[1]); q = dict(u.parse_qsl(url.query)); q["next"] = sys.argv[2]
print(u.urlunsplit(url._replace(query=u.urlencode(q))))' "$(<"$work/kiosk-launch-url")" "$1"; }
    customer_url=$(at /customer) clerk_url=$(at /operator)
fi
cat <<EOF

  customer screen: $customer_url
  clerk panel:     $clerk_url

  On the clerk panel, choose the reference photo $reference and press Start; the customer screen shows the
  prompts while the clip plays them. Ctrl-C stops everything (the working folder is $work).
EOF
wait "$kiosk"
