#!/usr/bin/env bash
# The main job: a full verification with the carrier, the agent and the terminal as separate processes,
# as they run in a store. Usage: tools/demo-local.sh [REFERENCE_PHOTO [CUSTOMER_PHOTO]]
#
#   1. the reference carrier server starts on loopback (its own CA, mTLS result port);
#   2. the device is provisioned with a one-time token and the demo's configuration (`edge-agent provision`);
#   3. the "customer" is a clip rendered from CUSTOMER_PHOTO (`edge-agent simulate`): the face animated
#      in 3-D performing the challenge order that the agent is configured (liveness.seed) to ask for;
#   4. the agent daemon (`edge-agent serve`) starts with that clip as its camera;
#   5. the terminal (`edge-agent terminal verify`) sends the reference photo through the terminal API,
#      prints the prompts as the agent emits them, then the signed result and the carrier's receipt;
#   6. the carrier's own audit record shows it accepted the result.
#
# The photos, when none are given: the shared data's deepface img1.jpg (reference) and img2.jpg (customer), from
# $EDGE_AGENT_DATA when it is set, else from ../shared/data when it is there; with neither, the one licensed
# sample in samples/faces/ (README.md there) as both. A photo that is not there is refused before anything starts.
# `tools/demo-local.sh --check [REF [CUSTOMER]]` only resolves and checks the photos (make runs it first).
# Set KEEP=1 to keep the working folder (logs, outbox, carrier database).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
check_only=0
if [[ "${1:-}" == --check ]]; then check_only=1; shift; fi
sample=$here/samples/faces/silent-face-image_T1.jpg
if [[ -n "${EDGE_AGENT_DATA:-}" ]]; then
    data=$EDGE_AGENT_DATA/faces/deepface
    fix="point EDGE_AGENT_DATA at the shared data folder (the one with faces/deepface/img1.jpg in it), or unset it to use the embedded sample"
elif [[ -f $here/../shared/data/faces/deepface/img1.jpg ]]; then
    data=$(cd "$here/../shared/data/faces/deepface" && pwd)
    fix="restore ../shared, set EDGE_AGENT_DATA=DIR, or name the photos: tools/demo-local.sh REF CUSTOMER"
else
    data=""
    fix="the sample is part of the repository: git checkout -- samples/faces"
fi
if [[ -n $data ]]; then
    reference=${1:-$data/img1.jpg}
    customer=${2:-$data/img2.jpg}
else
    reference=${1:-$sample}
    customer=${2:-$reference}
fi
if [[ $# -gt 0 ]]; then fix="check the path given on the command line"; fi
for photo in "$reference" "$customer"; do
    if [[ ! -f $photo ]]; then
        echo "demo: error: photo $photo does not exist; $fix" >&2
        exit 2
    fi
done
if ((check_only)); then
    echo "demo photos: reference $reference, customer $customer"
    exit 0
fi
ea=${EDGE_AGENT:-$here/.venv/bin/edge-agent}
py=$(dirname "$ea")/python
work=$(mktemp -d -t edge-agent-demo.XXXXXX)
# The agent's socket is 0660 for its group (api.socket_group, here your own primary group), and that group must be
# able to pass through the folder that holds it; mktemp's 0700 would make the agent warn that no terminal can open it.
chmod 0710 "$work"
seed=${SEED:-$((RANDOM % 6))}
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
    if [[ "${KEEP:-0}" == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for SECONDS COMMAND...: retry until the command succeeds
    local until=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < until)) || { echo "timed out waiting for: $*" >&2; return 1; }
        sleep 0.3
    done
}
step() { printf '\n== %s\n' "$*"; }

port=$(free_port)
enroll_port=$(free_port)

step "1. carrier: reference server on 127.0.0.1:$port (mTLS results) and :$enroll_port (enrolment)"
"$ea" carrier-server --state "$work/carrier" init
"$ea" carrier-server --state "$work/carrier" run --port "$port" --enroll-port "$enroll_port" \
    >"$work/carrier.log" 2>&1 &
pids+=($!)
wait_for 30 grep -q "carrier listening" "$work/carrier.log"
cat "$work/carrier.log"

# The device's configuration, as /etc/edge-agent/config.toml is on a device: provisioning reads its camera (the
# demo's clip: a file, nothing to pair), the agent all of it.
cat >"$work/config.toml" <<EOF
state_dir = "$work/device"
log_format = "json"
[camera]
source = "$work/customer.avi"
[api]
socket = "$work/agent.sock"
socket_group = "$(id -gn)"
[liveness]
seed = $seed  # demo only: the recorded clip performs this order; a device leaves it at -1 (random)
EOF

step "2. technician: provision the device with a one-time token and the demo's configuration"
token=$("$ea" carrier-server --state "$work/carrier" token --ttl-hours 1)
"$ea" provision --config "$work/config.toml" --state "$work/device" --carrier "127.0.0.1:$port" \
    --enroll "127.0.0.1:$enroll_port" --token "$token" --ca "$work/carrier/ca.pem"

step "3. customer: $(basename "$customer") rendered in 3-D, performing challenge order $seed"
"$ea" simulate "$customer" --seed "$seed" --out "$work/customer.avi"

step "4. agent: edge-agent serve, camera = that clip"
"$ea" serve --config "$work/config.toml" >"$work/agent.out" 2>"$work/agent.log" &
pids+=($!)
export EDGE_AGENT_SOCKET="$work/agent.sock"
wait_for 120 "$ea" terminal health  # model loading is slow on a busy 2-core machine
"$ea" terminal health

step "5. terminal: verify $(basename "$customer") against reference $(basename "$reference") through the terminal API"
txn="txn-demo-$(date +%s)-$RANDOM"
status=0
"$ea" terminal verify --reference "$reference" --txn "$txn" || status=$?

step "6. carrier: its audit record for $txn"
"$ea" carrier-server --state "$work/carrier" audit "$txn" || status=$?
exit "$status"
