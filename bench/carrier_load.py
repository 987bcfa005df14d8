"""Load test of the reference carrier: simulated devices against N replicas, one killed mid-load.

    python bench/carrier_load.py --store postgresql://edge@127.0.0.1:55432/carrier --replicas 2
    python bench/carrier_load.py --store sqlite --replicas 1          # the comparison

Loopback only, bounded in count (``--results``) and time (``--time-limit``).
What it does:

1. Starts ``edge-agent carrier-server run`` ``--replicas`` times on one store
   (PostgreSQL: a fresh schema in the given database; SQLite: a fresh file).
2. Provisions ``--devices`` devices, each with its own Ed25519 signing key, TLS
   key and certificate and counter. Provisioning shares one shortcut: the
   bench signs each device's CSR with the carrier's CA and inserts the device
   row itself instead of calling Enroll with a token per device (the enrolment
   RPC is covered by the tests; this skips 1,000 TLS handshakes to the enrolment
   port). Every result is really Ed25519-signed and verified by the server.
3. Runs the devices from ``--clients`` processes over gRPC with mutual TLS, each
   device sequentially (its counter strictly increases) and devices concurrently.
   Besides genuine results (nonce, sign, submit) the mix has exact duplicates,
   replayed nonces, conflicting results under accepted transaction ids, forged
   signatures and stale counters; each has the answer it must get.
4. Kills (SIGKILL) one replica when half the genuine results are accepted; its
   devices fail over to the other replica and resend the same bytes. With one
   replica the same replica is killed and restarted.
5. Proves from the database afterwards: every acknowledged result is there with
   its receipt, nothing is there twice or unacknowledged, nothing forged,
   replayed or conflicting was accepted, every counter is the last acknowledged.

Writes a Markdown report (``--out``) and prints it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing as mp
import os
import pickle
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SERVICE = "/edge_agent.carrier.v1.Carrier/"
RETRY_CODES = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "UNKNOWN"}

# kind -> (share of operations, the status a correct carrier answers)
MIX = {
    "genuine": (0.80, "OK"),
    "duplicate": (0.07, "OK"),  # the exact bytes of an accepted result again: duplicate with the original receipt
    "replay": (0.04, "FAILED_PRECONDITION"),  # an accepted result's nonce under a new transaction id
    "conflict": (0.03, "ALREADY_EXISTS"),  # different bytes under an accepted (device, transaction)
    "forged": (0.04, "UNAUTHENTICATED"),  # signed with a key that is not the device's
    "stale": (0.02, "FAILED_PRECONDITION"),  # a fresh nonce but a counter that does not increase
}


@dataclass
class SimDevice:
    device_id: str
    signing_key: bytes  # raw Ed25519 private key
    tls_key_pem: bytes
    tls_cert_pem: bytes
    replica: int


@dataclass
class Outcome:
    kind: str
    device_id: str
    txn: str
    expected: str
    code: str
    duplicate: bool = False
    receipt: str = ""
    result_sha256: str = ""
    latency_ms: float = 0.0  # the submission that got the final answer
    nonce_ms: float = 0.0
    attempts: int = 1
    failed_over: bool = False
    done_at: float = 0.0


@dataclass
class Plan:
    targets: list[str]
    ca_pem: bytes
    devices: list[SimDevice]
    ops_per_device: int
    concurrency: int
    deadline_s: float
    seed: int
    time_limit_s: float
    out: Path
    progress: Any = field(default=None, repr=False)


# -- the simulated devices (run in client processes) ------------------------------------------------------------------

class DeviceRunner:
    def __init__(self, dev: SimDevice, plan: Plan, rng: random.Random) -> None:
        import grpc
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from edge_agent._proto import carrier_pb2 as pb

        self.pb, self.grpc = pb, grpc
        self.dev, self.plan, self.rng = dev, plan, rng
        self.key = Ed25519PrivateKey.from_private_bytes(dev.signing_key)
        self.replica = dev.replica
        self.counter = 0
        self.accepted: list[tuple[str, bytes, bytes, str]] = []  # txn, nonce, signed bytes, receipt
        self.seq = 0
        self.failed_over = False
        self._open()

    def _open(self) -> None:
        creds = self.grpc.ssl_channel_credentials(self.plan.ca_pem, self.dev.tls_key_pem, self.dev.tls_cert_pem)
        self.channel = self.grpc.aio.secure_channel(self.plan.targets[self.replica], creds)
        pb = self.pb
        self.calls = {
            "GetNonce": self.channel.unary_unary(SERVICE + "GetNonce", request_serializer=None,
                                                 response_deserializer=pb.NonceResponse.FromString),
            "SubmitResult": self.channel.unary_unary(SERVICE + "SubmitResult", request_serializer=None,
                                                     response_deserializer=pb.SubmitAck.FromString),
        }

    async def _failover(self) -> None:
        await self.channel.close()
        self.replica = (self.replica + 1) % len(self.plan.targets)
        self.failed_over = True
        self._open()

    async def _rpc(self, method: str, request: bytes) -> tuple[Any, str, float, int]:
        """(response or None, status name, latency of the last attempt in ms, attempts).

        Retries what a device retries (UNAVAILABLE, DEADLINE_EXCEEDED) with the same bytes, on the other
        replica, as a load balancer would send it there.
        """
        attempts = 0
        while True:
            attempts += 1
            t0 = time.perf_counter()
            try:
                resp = await self.calls[method](request, timeout=self.plan.deadline_s)
                return resp, "OK", (time.perf_counter() - t0) * 1000, attempts
            except self.grpc.aio.AioRpcError as err:
                name = err.code().name
                if name not in RETRY_CODES or attempts >= 20:
                    return None, name, (time.perf_counter() - t0) * 1000, attempts
                await asyncio.sleep(min(0.05 * attempts, 0.5))
                await self._failover()

    def _sign(self, txn: str, nonce: bytes, counter: int, key: bytes | None = None) -> bytes:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from edge_agent.attest.result import ResultFields, encode_result, sign_result

        passed = self.rng.random() < 0.9
        fields = ResultFields(
            transaction_id=txn, device_id=self.dev.device_id, carrier_nonce=nonce,
            model_manifest_sha256=hashlib.sha256(b"model set").hexdigest(), passed=passed,
            reason_codes=("face_match",) if passed else ("face_mismatch",), liveness=self.pb.LIVENESS_LIVE,
            embedding_commitment=secrets.token_bytes(32))  # stands in for the HMAC of the embedding
        body = encode_result(fields, counter, int(time.time() * 1000))
        return sign_result(Ed25519PrivateKey.from_private_bytes(key) if key else self.key, body)

    async def _nonce(self, txn: str) -> tuple[bytes | None, float]:
        request = self.pb.NonceRequest(device_id=self.dev.device_id, transaction_id=txn).SerializeToString()
        resp, _, ms, _ = await self._rpc("GetNonce", request)
        return (bytes(resp.nonce) if resp is not None else None), ms

    async def _submit(self, kind: str, txn: str, signed: bytes, nonce_ms: float = 0.0) -> Outcome:
        resp, code, ms, attempts = await self._rpc("SubmitResult", signed)
        out = Outcome(kind, self.dev.device_id, txn, MIX[kind][1], code, latency_ms=ms, nonce_ms=nonce_ms,
                      attempts=attempts, failed_over=self.failed_over, done_at=time.time(),
                      result_sha256=hashlib.sha256(self.pb.SignedResult.FromString(signed).result).hexdigest())
        if resp is not None:
            out.duplicate, out.receipt = resp.duplicate, resp.receipt_id
        return out

    def _txn(self, tag: str) -> str:
        self.seq += 1
        return f"{tag}-{self.seq}-{secrets.token_hex(4)}"

    async def step(self) -> Outcome:
        kinds, weights = zip(*((k, w) for k, (w, _) in MIX.items()), strict=True)
        kind = self.rng.choices(kinds, weights)[0] if self.accepted else "genuine"
        if kind == "genuine":
            txn = self._txn("txn")
            nonce, nonce_ms = await self._nonce(txn)
            if nonce is None:
                return Outcome(kind, self.dev.device_id, txn, "OK", "NONCE_FAILED")
            self.counter += 1
            signed = self._sign(txn, nonce, self.counter)
            out = await self._submit(kind, txn, signed, nonce_ms)
            if out.code == "OK":
                self.accepted.append((txn, nonce, signed, out.receipt))
            return out
        txn, nonce, signed, receipt = self.rng.choice(self.accepted)
        if kind == "duplicate":
            out = await self._submit(kind, txn, signed)
            out.expected = "OK" if out.receipt == receipt and out.duplicate else "OK same receipt"
            return out
        if kind == "replay":
            rtxn = self._txn("replay")
            return await self._submit(kind, rtxn, self._sign(rtxn, nonce, self.counter + 1))
        if kind == "conflict":
            return await self._submit(kind, txn, self._sign(txn, nonce, self.counter + 1))
        if kind == "forged":
            ftxn = self._txn("forged")
            fnonce, _ = await self._nonce(ftxn)
            return await self._submit(kind, ftxn, self._sign(ftxn, fnonce or b"x" * 32, self.counter + 1,
                                                             key=secrets.token_bytes(32)))
        stxn = self._txn("stale")
        snonce, _ = await self._nonce(stxn)
        return await self._submit(kind, stxn, self._sign(stxn, snonce or b"x" * 32, max(1, self.counter)))


async def _run_devices(plan: Plan, index: int) -> list[Outcome]:
    rng = random.Random(plan.seed * 1000 + index)
    runners = [DeviceRunner(d, plan, random.Random(rng.random())) for d in plan.devices]
    outcomes: list[Outcome] = []
    stop_at = time.monotonic() + plan.time_limit_s
    queue: asyncio.Queue[DeviceRunner] = asyncio.Queue()
    remaining = {id(r): plan.ops_per_device for r in runners}
    for r in runners:
        queue.put_nowait(r)

    async def worker() -> None:
        while time.monotonic() < stop_at:
            try:
                r = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            out = await r.step()
            outcomes.append(out)
            if out.kind == "genuine" and out.code == "OK" and not out.duplicate:
                with plan.progress.get_lock():
                    plan.progress.value += 1
            remaining[id(r)] -= 1
            if remaining[id(r)] > 0:
                queue.put_nowait(r)  # the device goes to the back: devices take turns, each one sequential

    await asyncio.gather(*(worker() for _ in range(plan.concurrency)))
    for r in runners:
        await r.channel.close()
    return outcomes


def client_main(plan: Plan, index: int, progress: Any) -> None:
    import resource

    plan.progress = progress
    outcomes = asyncio.run(_run_devices(plan, index))
    use = resource.getrusage(resource.RUSAGE_SELF)
    plan.out.write_bytes(pickle.dumps((outcomes, use.ru_utime + use.ru_stime)))


# -- the carrier side -------------------------------------------------------------------------------------------------

def _cli(state: Path, store: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "edge_agent.cli", "carrier-server", "--state", str(state), "--store", store, *args]


class Replica:
    def __init__(self, state: Path, store: str, port: int, workers: int, log: Path) -> None:
        self.args = _cli(state, store, "run", "--port", str(port), "--enroll-port", "0", "--workers", str(workers))
        self.log = log
        self.target = f"127.0.0.1:{port}"
        self.cpu_before = 0.0
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.log.open("ab"), text=True,
                                     start_new_session=True)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if "carrier listening" not in line:
            raise RuntimeError(f"replica did not start: {line!r}; see {self.log}")

    def cpu_s(self) -> float:
        """CPU seconds (user + system) this replica has used so far, over all its starts."""
        import psutil

        try:
            t = psutil.Process(self.proc.pid).cpu_times()
            return self.cpu_before + t.user + t.system
        except psutil.NoSuchProcess:
            return self.cpu_before

    def kill(self) -> None:
        self.cpu_before = self.cpu_s()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.cpu_before = self.cpu_s()
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)


class PostgresCpu:
    """CPU seconds of the postgres processes, sampled while they live (a backend's time leaves with it)."""

    def __init__(self) -> None:
        self.seen: dict[int, float] = {}
        self.base = dict(self._now())

    @staticmethod
    def _now() -> list[tuple[int, float]]:
        import psutil

        out = []
        for proc in psutil.process_iter(["name", "cpu_times"]):
            if proc.info["name"] == "postgres" and proc.info["cpu_times"] is not None:
                out.append((proc.pid, proc.info["cpu_times"].user + proc.info["cpu_times"].system))
        return out

    def sample(self) -> None:
        self.seen.update(self._now())

    def used_s(self) -> float:
        return sum(cpu - self.base.get(pid, 0.0) for pid, cpu in self.seen.items())


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (all processes, all cores): tells a quiet run from a shared one."""
    import psutil

    t = psutil.cpu_times()
    return float(sum(getattr(t, f) for f in ("user", "nice", "system", "irq", "softirq", "steal") if hasattr(t, f)))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _store_url(kind: str, tmp: Path) -> tuple[str, str]:
    """(URL for the carrier, label); PostgreSQL gets a fresh schema in the given database."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'carrier.db'}", "SQLite"
    import psycopg

    schema = f"load_{int(time.time())}_{secrets.token_hex(3)}"
    with psycopg.connect(kind, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
    sep = "&" if "?" in kind else "?"
    return f"{kind}{sep}options={quote(f'-c search_path={schema}')}", "PostgreSQL"


def provision(state: Path, store_url: str, count: int, replicas: int) -> list[SimDevice]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

    from edge_agent.carrier.pki import CertificateAuthority, cert_sha256, key_pem, make_csr, new_key
    from edge_agent.reference_carrier.server import open_store

    ca = CertificateAuthority.load((state / "ca.key").read_bytes(), (state / "ca.pem").read_bytes())
    store = open_store(state, store_url)
    devices = []
    for i in range(count):
        device_id = f"dev-load-{i:05d}-{secrets.token_hex(3)}"
        sk = Ed25519PrivateKey.generate()
        tls = new_key()
        cert = ca.sign_device_csr(make_csr(tls), device_id)
        store.add_device(device_id, sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw), cert_sha256(cert))
        raw = sk.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        devices.append(SimDevice(device_id, raw, key_pem(tls), cert, i % replicas))
    store.close()
    return devices


# -- proof from the database ------------------------------------------------------------------------------------------

def audit_rows(store_url: str) -> tuple[dict[tuple[str, str], tuple[str, str, int]], dict[str, int]]:
    """{(device, txn): (receipt, result sha256, counter)} and {device: last_counter}, read from the database."""
    if store_url.startswith("sqlite:///"):
        import sqlite3

        db = sqlite3.connect(store_url[len("sqlite:///"):])
        rows = db.execute("SELECT device_id, transaction_id, receipt_id, result_sha256, counter FROM audit").fetchall()
        counters = dict(db.execute("SELECT device_id, last_counter FROM devices").fetchall())
        db.close()
    else:
        import psycopg

        with psycopg.connect(store_url) as conn:
            rows = conn.execute("SELECT device_id, transaction_id, receipt_id, result_sha256, counter "
                                "FROM audit").fetchall()
            counters = dict(conn.execute("SELECT device_id, last_counter FROM devices").fetchall())
    audit: dict[tuple[str, str], tuple[str, str, int]] = {}
    for d, t, r, h, c in rows:
        assert (d, t) not in audit  # the primary key makes this impossible; checked anyway
        audit[(d, t)] = (r, h, c)
    return audit, counters


def verify(outcomes: list[Outcome], store_url: str) -> dict[str, Any]:
    audit, counters = audit_rows(store_url)
    acked = {}
    for o in outcomes:
        if o.kind == "genuine" and o.code == "OK":
            acked[(o.device_id, o.txn)] = o
    missing = [k for k, o in acked.items() if k not in audit or audit[k][0] != o.receipt or audit[k][1] !=
               o.result_sha256]
    unacknowledged = [k for k in audit if k not in acked]
    wrong_answer = [o for o in outcomes if o.code != o.expected]
    refused_kinds = {k for k, (_, code) in MIX.items() if code != "OK"}
    # No refused submission is in the audit under its own bytes.
    sneaked_in = [o for o in outcomes if o.kind in refused_kinds and (o.device_id, o.txn) in audit
                  and audit[(o.device_id, o.txn)][1] == o.result_sha256]
    last = {}
    for o in acked.values():
        c = audit.get((o.device_id, o.txn), ("", "", 0))[2]
        last[o.device_id] = max(last.get(o.device_id, 0), c)
    counter_mismatch = [d for d, c in last.items() if counters.get(d) != c]
    return {"acknowledged": len(acked), "audit_rows": len(audit), "missing": len(missing),
            "accepted_without_ack": len(unacknowledged), "wrong_answers": len(wrong_answer),
            "wrong_examples": [(o.kind, o.expected, o.code) for o in wrong_answer[:5]],
            "refused_but_stored": len(sneaked_in), "counter_mismatch": len(counter_mismatch)}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", required=True, help="'sqlite' or a postgresql:// URL of a database to use")
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--results", type=int, default=50_000, help="submissions in total (all kinds)")
    ap.add_argument("--clients", type=int, default=2, help="load generator processes")
    ap.add_argument("--concurrency", type=int, default=24, help="operations in flight per client process")
    ap.add_argument("--workers", type=int, default=16, help="request threads per replica")
    ap.add_argument("--no-kill", action="store_true")
    ap.add_argument("--time-limit", type=float, default=900.0, help="seconds; the load stops there")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, help="Markdown report")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="carrier-load-"))
    state = tmp / "state"
    store_url, label = _store_url(args.store, tmp)
    subprocess.run(_cli(state, store_url, "init"), check=True, capture_output=True)
    t0 = time.time()
    devices = provision(state, store_url, args.devices, args.replicas)
    print(f"provisioned {len(devices)} devices in {time.time() - t0:.1f} s", flush=True)
    replicas = [Replica(state, store_url, _free_port(), args.workers, tmp / f"replica{i}.log")
                for i in range(args.replicas)]
    targets = [r.target for r in replicas]
    ops_per_device = max(1, args.results // args.devices)
    ctx = mp.get_context("spawn")
    progress = ctx.Value("l", 0)
    per_client = [devices[i::args.clients] for i in range(args.clients)]
    plans = [Plan(targets, (state / "ca.pem").read_bytes(), devs, ops_per_device, args.concurrency, 10.0,
                  args.seed, args.time_limit, tmp / f"client{i}.pickle") for i, devs in enumerate(per_client)]
    expected_genuine = int(args.results * MIX["genuine"][0])
    procs = [ctx.Process(target=client_main, args=(p, i, progress)) for i, p in enumerate(plans)]
    pg_cpu = PostgresCpu()
    busy_before = machine_busy_s()
    start = time.time()
    for p in procs:
        p.start()
    killed_at = restarted_at = None
    uptimes = []
    while any(p.is_alive() for p in procs):
        time.sleep(0.2)
        if label == "PostgreSQL" and int(time.time() * 5) % 5 == 0:
            pg_cpu.sample()
        if len(uptimes) < 1 and time.time() - start > 5:
            uptimes.append(os.getloadavg())
        if not args.no_kill and killed_at is None and progress.value >= expected_genuine // 2:
            killed_at = time.time()
            replicas[0].kill()
            print(f"SIGKILL replica 0 at {killed_at - start:.1f} s ({progress.value} accepted)", flush=True)
            if len(replicas) == 1:
                time.sleep(2.0)
                replicas[0].start()
                restarted_at = time.time()
                print(f"replica 0 restarted at {restarted_at - start:.1f} s", flush=True)
    wall = time.time() - start
    load_after = os.getloadavg()
    busy = machine_busy_s() - busy_before
    pg_cpu.sample()
    for r in replicas:
        r.stop()
    server_cpu = sum(r.cpu_before for r in replicas)
    db_cpu = pg_cpu.used_s() if label == "PostgreSQL" else 0.0
    outcomes: list[Outcome] = []
    client_cpu = 0.0
    for p in plans:
        got, cpu = pickle.loads(p.out.read_bytes())
        outcomes += got
        client_cpu += cpu
    proof = verify(outcomes, store_url)
    genuine = [o for o in outcomes if o.kind == "genuine" and o.code == "OK"]
    lat = [o.latency_ms for o in outcomes if o.code != "NONCE_FAILED"]
    nonce_lat = [o.nonce_ms for o in outcomes if o.nonce_ms]
    by_kind = {k: sum(1 for o in outcomes if o.kind == k) for k in MIX}
    ok = not (proof["missing"] or proof["accepted_without_ack"] or proof["wrong_answers"] or
              proof["refused_but_stored"] or proof["counter_mismatch"])
    rate = len(genuine) / wall
    rpcs = len(outcomes) + sum(1 for o in outcomes if o.nonce_ms) + by_kind["forged"] + by_kind["stale"]
    per = max(1, len(genuine))
    kill = "none" if killed_at is None else f"SIGKILL replica 0 at {killed_at - start:.1f} s"
    if killed_at is not None and restarted_at is not None:
        kill += f", serving again at {restarted_at - start:.1f} s"
    mix = ", ".join(f"{k} {v}" for k, v in by_kind.items())
    retried = sum(1 for o in outcomes if o.attempts > 1)
    resent_dup = sum(1 for o in genuine if o.duplicate)
    load_start = uptimes[0][0] if uptimes else float("nan")
    ours = server_cpu + db_cpu + client_cpu
    lines = [
        f"# Carrier load test: {label}, {args.replicas} replica(s)",
        "",
        f"- devices: {len(devices)} (own Ed25519 key, TLS certificate, counter); load generator: {args.clients} "
        f"processes x {args.concurrency} operations in flight; gRPC with mutual TLS on loopback",
        f"- submissions: {len(outcomes)} ({mix}); RPCs including nonces: ~{rpcs}",
        f"- replica kill: {kill}",
        f"- wall time: {wall:.1f} s; **accepted results: {len(genuine)}, {rate:.0f}/s**; all RPCs ~{rpcs / wall:.0f}/s",
        f"- submit latency (final attempt, all kinds): p50 {percentile(lat, 50):.1f} ms, "
        f"p99 {percentile(lat, 99):.1f} ms, max {max(lat):.1f} ms",
        f"- nonce latency: p50 {percentile(nonce_lat, 50):.1f} ms, p99 {percentile(nonce_lat, 99):.1f} ms",
        f"- resent after an UNAVAILABLE (failover, same bytes): {retried} submissions; "
        f"genuine results answered as duplicates on resend: {resent_dup}",
        f"- CPU per accepted result (all traffic included): replicas {1000 * server_cpu / per:.2f} ms, "
        f"PostgreSQL {1000 * db_cpu / per:.2f} ms, load generator {1000 * client_cpu / per:.2f} ms",
        f"- machine: {os.cpu_count()} cores; load average 5 s in {load_start:.2f}, at the end {load_after[0]:.2f}; "
        f"CPU busy during the run {busy / wall:.2f} of {os.cpu_count()} cores: this test {ours / wall:.2f}, "
        f"other processes {max(0.0, busy - ours) / wall:.2f}",
        "",
    ]
    report = "\n".join(lines) + f"""
Proof from the database ({"PASS" if ok else "FAIL"}):

| check | value |
|---|---|
| acknowledged genuine results | {proof["acknowledged"]} |
| audit rows | {proof["audit_rows"]} |
| acknowledged but missing (or other receipt/bytes) | {proof["missing"]} |
| accepted but never acknowledged | {proof["accepted_without_ack"]} |
| answers other than expected (all kinds) | {proof["wrong_answers"]} {proof["wrong_examples"] or ""} |
| refused kinds found in the audit | {proof["refused_but_stored"]} |
| devices whose counter is not their last acknowledged | {proof["counter_mismatch"]} |
"""
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
    if ok:
        # The folder holds 1,000 devices' keys and the replicas' logs: needed only to look into a failed run.
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"replica logs and device state kept in {tmp}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
