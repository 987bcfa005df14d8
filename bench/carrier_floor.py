"""Where a carrier replica's CPU goes: the gRPC floor per call, and the handlers' own work without gRPC.

    python bench/carrier_floor.py rpc              # trivial echo: thread-pool server, asyncio, asyncio + threads
    python bench/carrier_floor.py handlers --store postgresql://edge@127.0.0.1:55432/carrier
    python bench/carrier_floor.py handlers --store sqlite

``rpc``: one server process with a handler that returns its request, mutual TLS with 200 client
certificates, 2 client processes (gRPC asyncio, 24 calls in flight each) for ``--seconds``; prints the
server's CPU per call. That is what every carrier RPC costs before any work is done.

``handlers``: ``CarrierService.get_nonce`` and ``submit`` called directly (no gRPC) for 50 devices on a
real store, one thread; prints the CPU per call. A result is signed by the bench between the two calls
(not counted). Loopback, bounded in count; run it on an otherwise idle machine for absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import secrets
import sys
import tempfile
import time
from concurrent import futures
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

METHOD = "/bench.Echo/Echo"


def _echo_handlers(fn: Any) -> Any:
    import grpc

    return grpc.method_handlers_generic_handler("bench.Echo", {
        "Echo": grpc.unary_unary_rpc_method_handler(fn, request_deserializer=None, response_serializer=None)})


def _serve(mode: str, ca_pem: bytes, key: bytes, cert: bytes, port_q: Any, stop: Any) -> None:
    import grpc

    creds = grpc.ssl_server_credentials([(key, cert)], root_certificates=ca_pem, require_client_auth=True)
    if mode == "threads":
        server = grpc.server(futures.ThreadPoolExecutor(16))
        server.add_generic_rpc_handlers([_echo_handlers(lambda data, _ctx: data)])
        port_q.put(server.add_secure_port("127.0.0.1:0", creds))
        server.start()
        stop.wait()
        return

    async def main() -> None:
        pool = futures.ThreadPoolExecutor(16)

        async def echo(data: bytes, _ctx: Any) -> bytes:
            return data

        async def echo_on_thread(data: bytes, _ctx: Any) -> bytes:
            return await asyncio.get_running_loop().run_in_executor(pool, bytes, data)

        server = grpc.aio.server()
        server.add_generic_rpc_handlers([_echo_handlers(echo if mode == "asyncio" else echo_on_thread)])
        port_q.put(server.add_secure_port("127.0.0.1:0", creds))
        await server.start()
        while not stop.is_set():
            await asyncio.sleep(0.2)

    asyncio.run(main())


def _client(port: int, ca_pem: bytes, pairs: list[tuple[bytes, bytes]], seconds: float, out: Any) -> None:
    import grpc

    async def main() -> None:
        channels = [grpc.aio.secure_channel(f"127.0.0.1:{port}", grpc.ssl_channel_credentials(ca_pem, k, c))
                    for k, c in pairs]
        calls = [ch.unary_unary(METHOD, request_serializer=None, response_deserializer=None) for ch in channels]
        done = 0
        stop_at = time.monotonic() + seconds

        async def worker(first: int) -> None:
            nonlocal done
            i = first
            while time.monotonic() < stop_at:
                await calls[i % len(calls)](b"x" * 300, timeout=10)
                done += 1
                i += 24

        await asyncio.gather(*(worker(j) for j in range(24)))
        out.put(done)

    asyncio.run(main())


def rpc_floor(seconds: float) -> None:
    import psutil

    from edge_agent.carrier.pki import CertificateAuthority, key_pem, make_csr, new_key

    ca = CertificateAuthority.create()
    server_pair = ca.server_pair(["localhost", "127.0.0.1"])
    pairs = []
    for i in range(200):
        k = new_key()
        pairs.append((key_pem(k), ca.sign_device_csr(make_csr(k), f"dev-{i}")))
    ctx = mp.get_context("spawn")
    for mode in ("threads", "asyncio", "asyncio+threads"):
        port_q, out, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
        server = ctx.Process(target=_serve, args=(mode, ca.cert_pem, server_pair.key_pem, server_pair.cert_pem,
                                                  port_q, stop))
        server.start()
        port = port_q.get()
        clients = [ctx.Process(target=_client, args=(port, ca.cert_pem, pairs[i::2], seconds, out)) for i in range(2)]
        cpu0 = psutil.Process(server.pid).cpu_times()
        for c in clients:
            c.start()
        calls = sum(out.get() for _ in clients)
        cpu1 = psutil.Process(server.pid).cpu_times()
        for c in clients:
            c.join()
        stop.set()
        server.join(10)
        cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        print(f"{mode:16s} {calls / seconds:6.0f} calls/s, server CPU {1000 * cpu / calls:.3f} ms per call "
              f"(client setup included); load average {os.getloadavg()[0]:.1f}", flush=True)


def handlers(store_kind: str, count: int) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from edge_agent._proto import carrier_pb2 as pb
    from edge_agent.attest.result import ResultFields, encode_result, sign_result
    from edge_agent.carrier.pki import CertificateAuthority, cert_sha256, make_csr, new_key
    from edge_agent.reference_carrier.server import CarrierService, Peer, ServerConfig, open_store

    tmp = Path(tempfile.mkdtemp(prefix="carrier-floor-"))
    if store_kind == "sqlite":
        url = f"sqlite:///{tmp / 'carrier.db'}"
    else:
        import psycopg

        schema = f"floor_{secrets.token_hex(4)}"
        with psycopg.connect(store_kind, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}".encode())
        url = f"{store_kind}{'&' if '?' in store_kind else '?'}options={quote(f'-c search_path={schema}')}"
    store = open_store(tmp, url)
    ca = CertificateAuthority.create()
    # the handlers' cost, not the per-device nonce limit (a real device asks a few times a minute)
    service = CarrierService(store, ca, config=ServerConfig(nonce_rate_per_s=1e9, nonce_burst=1e9))
    devices = []
    for i in range(50):
        sk = Ed25519PrivateKey.generate()
        cert = ca.sign_device_csr(make_csr(new_key()), f"dev-{i}")
        store.add_device(f"dev-{i}", sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw), cert_sha256(cert))
        devices.append((f"dev-{i}", sk, Peer(f"dev-{i}", cert), [0]))
    spent = {"GetNonce": 0.0, "SubmitResult": 0.0}

    def cpu() -> float:
        use = resource.getrusage(resource.RUSAGE_SELF)
        return use.ru_utime + use.ru_stime

    def one(i: int) -> None:
        device_id, sk, peer, counter = devices[i % len(devices)]
        txn = f"t{i}"
        request = pb.NonceRequest(device_id=device_id, transaction_id=txn).SerializeToString()
        t0 = cpu()
        nonce = bytes(service.get_nonce(request, peer).nonce)
        spent["GetNonce"] += cpu() - t0
        counter[0] += 1
        fields = ResultFields(transaction_id=txn, device_id=device_id, carrier_nonce=nonce,
                              model_manifest_sha256="0" * 64, passed=True, reason_codes=("face_match",),
                              liveness=pb.LIVENESS_LIVE, embedding_commitment=secrets.token_bytes(32))
        signed = sign_result(sk, encode_result(fields, counter[0], int(time.time() * 1000)))
        t0 = cpu()
        ack = service.submit(signed, peer)
        spent["SubmitResult"] += cpu() - t0
        assert ack.receipt_id and not ack.duplicate

    for i in range(100):  # warm: prepared statements, remembered keys, pool
        one(i)
    spent.update(GetNonce=0.0, SubmitResult=0.0)
    for i in range(100, 100 + count):
        one(i)
    store.close()
    label = "SQLite" if store_kind == "sqlite" else "PostgreSQL"
    print(f"{label}: " + ", ".join(f"{k} {1000 * v / count:.3f} ms" for k, v in spent.items())
          + f" of CPU per call over {count} accepted results (process CPU: pool threads included); "
          f"load average {os.getloadavg()[0]:.1f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("rpc")
    r.add_argument("--seconds", type=float, default=12.0)
    h = sub.add_parser("handlers")
    h.add_argument("--store", required=True, help="'sqlite' or a postgresql:// URL of a database to use")
    h.add_argument("--count", type=int, default=2000)
    args = ap.parse_args()
    if args.what == "rpc":
        rpc_floor(args.seconds)
    else:
        handlers(args.store, args.count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
