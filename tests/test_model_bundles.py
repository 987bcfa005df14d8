"""Signed model bundles: every flipped bit refused, wrong key, downgrade, atomic install under SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge_agent.modelset.bundle import (
    MAGIC,
    BundleInvalid,
    BundleSignatureError,
    pack,
    parse_version,
    read_bundle,
    signed_digest,
)
from edge_agent.modelset.install import DowngradeRefused, InstalledSetBroken, ModelStore
from edge_agent.vision.manifest import DEFAULT_MODEL_DIR
from edge_agent.vision.pipeline import FacePipeline

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
TRUSTED = [KEY.public_key()]


def tiny_set(folder: Path, version: str, payload: bytes = b"weights") -> Path:
    """A small model set (not real models: the bundle logic does not care) so every bit can be flipped."""
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)
    files = {"a.tflite": payload + b"-a", "b.tflite": payload + b"-b"}
    models = {}
    for name, blob in files.items():
        (folder / name).write_bytes(blob)
        models[name.split(".")[0]] = {"file": name, "sha256": hashlib.sha256(blob).hexdigest()}
    models["opt"] = {"file": "absent.tflite", "sha256": "0" * 64, "optional": True}
    (folder / "manifest.json").write_text(json.dumps({"version": version, "models": models}))
    return folder


def test_round_trip_and_every_flipped_bit_is_refused(tmp_path: Path) -> None:
    data = pack(tiny_set(tmp_path / "m", "2026.12.0"), KEY)
    bundle = read_bundle(data, TRUSTED)
    assert bundle.version == "2026.12.0" and set(bundle.files) == {"manifest.json", "a.tflite", "b.tflite"}
    refused = 0
    for i in range(len(data)):
        for bit in (0, 3, 7):
            flipped = bytearray(data)
            flipped[i] ^= 1 << bit
            with pytest.raises((BundleInvalid, BundleSignatureError)):
                read_bundle(bytes(flipped), TRUSTED)
            refused += 1
    assert refused == 3 * len(data)
    for bad in (data[:-1], data + b"\0", data[:100], b"", b"EDGEAGENT-MODELS" + b"\0" * 80):
        with pytest.raises((BundleInvalid, BundleSignatureError)):
            read_bundle(bad, TRUSTED)


def test_wrong_key_and_no_keys(tmp_path: Path) -> None:
    data = pack(tiny_set(tmp_path / "m", "2026.12.0"), Ed25519PrivateKey.generate())
    with pytest.raises(BundleSignatureError, match="any trusted release key"):
        read_bundle(data, TRUSTED)
    with pytest.raises(BundleSignatureError, match="no trusted release keys"):
        read_bundle(data, [])


def test_signed_but_inconsistent_sets_are_refused(tmp_path: Path) -> None:
    folder = tiny_set(tmp_path / "m", "2026.12.0")
    (folder / "a.tflite").write_bytes(b"changed after the manifest")
    with pytest.raises(BundleInvalid, match="refusing to sign"):
        pack(folder, KEY)
    with pytest.raises(BundleInvalid, match="dotted integers"):
        parse_version("2026.12-beta")


def signed_bundle(files: list[tuple[str, bytes]], *, version: str = "2026.12.0",
                  entries: list[dict] | None = None) -> bytes:
    """A bundle signed by the trusted key whatever it holds: what a compromised build or a careless release
    could produce. ``entries`` overrides the header's file list (to make it lie about names or sizes)."""
    import hashlib
    import struct

    if entries is None:
        entries = [{"name": n, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()} for n, b in files]
    header = json.dumps({"format": 1, "version": version, "files": entries}, sort_keys=True).encode()
    prefix = MAGIC + struct.pack(">I", len(header)) + header + b"".join(b for _, b in files)
    return prefix + KEY.sign(signed_digest(prefix))


def _manifest(version: str = "2026.12.0", **models: bytes) -> bytes:
    import hashlib

    return json.dumps({"version": version, "models": {
        name.split(".")[0]: {"file": name, "sha256": hashlib.sha256(blob).hexdigest()}
        for name, blob in models.items()}}).encode()


def _bad_bundles() -> dict[str, tuple[bytes, str]]:
    import hashlib

    a = b"weights-a"
    good = _manifest(**{"a.tflite": a})
    entry = {"name": "a.tflite", "size": len(a), "sha256": hashlib.sha256(a).hexdigest()}
    man = {"name": "manifest.json", "size": len(good), "sha256": hashlib.sha256(good).hexdigest()}
    return {
        "bundle.sig": (signed_bundle([("manifest.json", good), ("a.tflite", a), ("bundle.sig", b"x" * 64)]),
                       "reserved"),
        "bundle.header": (signed_bundle([("manifest.json", good), ("a.tflite", a), ("bundle.header", b"{}")]),
                          "reserved"),
        "manifest shadowed": (signed_bundle([("manifest.json", good), ("a.tflite", a), ("manifest.json", good)]),
                              "each file once"),
        "duplicate": (signed_bundle([("manifest.json", good), ("a.tflite", a), ("a.tflite", a)]), "each file once"),
        "traversal": (signed_bundle([("manifest.json", good), ("../a.tflite", a)]), "plain file name"),
        "absolute": (signed_bundle([("manifest.json", good), ("/tmp/a.tflite", a)]), "plain file name"),
        "hidden": (signed_bundle([("manifest.json", good), (".a.tflite", a)]), "plain file name"),
        "manifest not first": (signed_bundle([("a.tflite", a), ("manifest.json", good)]), "manifest.json first"),
        "negative size": (signed_bundle([("manifest.json", good), ("a.tflite", a)],
                                        entries=[man, {**entry, "size": -1}]), "impossible size"),
        "boolean size": (signed_bundle([("manifest.json", good), ("a.tflite", a)],
                                       entries=[man, {**entry, "size": True}]), "malformed"),
        "size too big": (signed_bundle([("manifest.json", good), ("a.tflite", a)],
                                       entries=[man, {**entry, "size": len(a) + 1}]), "truncated"),
        "size too small": (signed_bundle([("manifest.json", good), ("a.tflite", a)],
                                         entries=[man, {**entry, "size": len(a) - 1}]), "after its last file"),
        "header names another file": (signed_bundle([("manifest.json", good), ("a.tflite", a)],
                                                    entries=[man, {**entry, "name": "b.tflite"}]),
                                      r"not in the bundle|does not list"),
        "file the manifest does not list": (signed_bundle([("manifest.json", good), ("a.tflite", a),
                                                           ("extra.tflite", b"unvouched")]), "does not list"),
        "manifest names a path": (signed_bundle([("manifest.json", _manifest(**{"../../a.tflite": a}))]),
                                  "plain file name"),
        "manifest version differs": (signed_bundle([("manifest.json", _manifest("2026.12.1", **{"a.tflite": a})),
                                                    ("a.tflite", a)]), "differs"),
    }


@pytest.mark.parametrize("case", sorted(_bad_bundles()))
def test_signed_bundles_with_bad_names_sizes_or_mismatches_are_refused(case: str, tmp_path: Path) -> None:
    data, reason = _bad_bundles()[case]
    with pytest.raises(BundleInvalid, match=reason):
        read_bundle(data, TRUSTED)
    store = ModelStore(tmp_path / "models")
    assert store.current_dir() is None  # nothing reached the disk


def test_a_well_formed_signed_bundle_from_the_same_builder_is_accepted() -> None:
    a = b"weights-a"
    bundle = read_bundle(signed_bundle([("manifest.json", _manifest(**{"a.tflite": a})), ("a.tflite", a)]),
                         TRUSTED)
    assert set(bundle.files) == {"manifest.json", "a.tflite"}


def test_install_downgrade_same_version_and_rollback_copy(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "state" / "models")
    v1 = read_bundle(pack(tiny_set(tmp_path / "v1", "2026.12.0"), KEY), TRUSTED)
    v2 = read_bundle(pack(tiny_set(tmp_path / "v2", "2027.1.0", b"newer"), KEY), TRUSTED)
    assert store.install(v1, "2026.11.1")["result"] == "installed"
    assert store.current_version() == "2026.12.0"
    assert store.install(v1, store.current_version()) == {"result": "already_installed", "changed": False,
                                                           "version": "2026.12.0"}
    out = store.install(v2, store.current_version())
    assert out["previous"] == "2026.12.0" and store.current_version() == "2027.1.0"
    assert sorted(p.name for p in store.releases.iterdir()) == ["2026.12.0", "2027.1.0"]
    with pytest.raises(DowngradeRefused, match="older than the set in use"):
        store.install(v1, store.current_version())
    assert store.current_version() == "2027.1.0"
    assert store.verify(TRUSTED)["version"] == "2027.1.0"
    (store.current_dir() / "a.tflite").write_bytes(b"tampered")  # type: ignore[operator]
    with pytest.raises(InstalledSetBroken, match="fails verification"):
        store.verify(TRUSTED)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge_agent.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real model set, re-versioned and signed by a release key made with `models keygen`."""
    root = tmp_path_factory.mktemp("release")
    assert cli("models", "keygen", "--out", str(root / "keys" / "release.key")).returncode == 0
    again = cli("models", "keygen", "--out", str(root / "keys" / "release.key"))
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    assert (root / "keys" / "release.key").stat().st_mode & 0o777 == 0o600
    trusted = root / "trusted"
    trusted.mkdir()
    shutil.copy(root / "keys" / "release.pub", trusted / "release.pub")
    bundles = {}
    for version in ("2027.1.0", "2027.2.0"):
        folder = root / version
        shutil.copytree(DEFAULT_MODEL_DIR, folder, ignore=shutil.ignore_patterns("*.py"))
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["version"] = version
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
        bundles[version] = root / f"models-{version}.bundle"
        proc = cli("models", "pack", "--key", str(root / "keys" / "release.key"), "--models", str(folder),
                   "--out", str(bundles[version]), "--json")
        assert proc.returncode == 0, proc.stderr
    return {"trusted": trusted, **{k: v for k, v in bundles.items()}}


@pytest.mark.slow
def test_cli_install_verify_and_the_pipeline_loads_the_installed_set(release: dict[str, Path],
                                                                     tmp_path: Path) -> None:
    state = tmp_path / "state"
    args = ["--state", str(state), "--trusted", str(release["trusted"]), "--json"]
    proc = cli("models", "verify", *args)
    assert proc.returncode == 0 and "factory set" in proc.stdout
    proc = cli("models", "install", str(release["2027.1.0"]), *args)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["result"] == "installed"
    verified = json.loads(cli("models", "verify", *args).stdout)
    assert verified["version"] == "2027.1.0" and verified["installed"] == "signed bundle"
    installed = ModelStore(state / "models").current_dir()
    assert installed is not None
    assert FacePipeline.from_directory(installed).manifest.version == "2027.1.0"
    proc = cli("models", "install", str(release["2027.1.0"]), *args)
    assert json.loads(proc.stdout)["result"] == "already_installed"
    other = tmp_path / "other-keys"
    other.mkdir()
    proc = cli("models", "install", str(release["2027.2.0"]), "--state", str(state), "--trusted", str(other))
    assert proc.returncode == 2 and "no trusted release keys" in proc.stderr and "Traceback" not in proc.stderr
    bad = tmp_path / "bad.bundle"
    data = bytearray(release["2027.2.0"].read_bytes())
    data[len(data) // 2] ^= 0x10  # inside the embedder
    bad.write_bytes(bytes(data))
    proc = cli("models", "install", str(bad), *args)
    assert proc.returncode == 2 and json.loads(proc.stdout)["error"] == "bundle_signature"
    assert json.loads(cli("models", "verify", *args).stdout)["version"] == "2027.1.0"


@pytest.mark.slow
@pytest.mark.parametrize("point", ["models.install.start", "models.install.mid_copy",
                                   "models.install.before_rename", "models.install.before_switch",
                                   "models.install.after_switch"])
def test_kill_at_each_install_step_leaves_a_working_set(release: dict[str, Path], tmp_path: Path,
                                                        point: str) -> None:
    state = tmp_path / "state"
    args = ["--state", str(state), "--trusted", str(release["trusted"]), "--json"]
    assert cli("models", "install", str(release["2027.1.0"]), *args).returncode == 0
    proc = cli("models", "install", str(release["2027.2.0"]), *args, env={"EDGE_AGENT_CRASH_AT": point})
    assert proc.returncode == -9, proc.stderr
    after = json.loads(cli("models", "verify", *args).stdout)
    expected = "2027.2.0" if point == "models.install.after_switch" else "2027.1.0"
    assert after["version"] == expected
    store = ModelStore(state / "models")
    assert FacePipeline.from_directory(store.current_dir()).manifest.version == expected
    proc = cli("models", "install", str(release["2027.2.0"]), *args)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["result"] == ("already_installed" if expected == "2027.2.0" else "installed")
    assert json.loads(cli("models", "verify", *args).stdout)["version"] == "2027.2.0"
    assert not list(store.releases.glob(".tmp-*")) and not list(store.root.glob(".current-*"))
