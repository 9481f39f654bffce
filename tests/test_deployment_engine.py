"""The Flower app on Flower's deployment engine: a SuperLink and three SuperNodes on loopback.

Every process is a real Flower executable (``flower-superlink``, ``flower-supernode``,
``flwr run``) started here and stopped at the end, once without TLS and once with a CA and
a SuperLink certificate the test makes. The run uses the tiny model; the check is the report
the ServerApp writes. Slow (minutes: three SuperNodes each start a ClientApp process that
imports torch, transformers, Opacus and Flower), so ``-m slow``.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "apps" / "flower"
BIN = Path(sys.executable).parent
NODES = 3

RUN_CONFIG = (
    "model='tiny' num-clients=3 clients-per-round=3 rounds=2 max-examples-per-client=48 "
    "max-test-examples=64 max-length=24 batch-size=16 partition='iid' selection='random'"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a SuperLink certificate for 127.0.0.1/localhost, signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("qflower test CA"))
        .issuer_name(name("qflower test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(san, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = folder / "ca.crt", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(cert.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


class Processes:
    """Every process the test starts, each in its own session so its children stop too."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen]] = []
        self.files: list = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        out = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 - closed in stop()
        self.files.append(out)
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
        )
        self.started.append((name, proc))
        return proc

    def stop(self) -> None:
        for _, proc in reversed(self.started):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _, proc in self.started:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for out in self.files:
            out.close()

    def tail(self) -> str:
        parts = []
        for name, _ in self.started:
            text = (self.logs / f"{name}.log").read_text(errors="replace")
            parts.append(f"--- {name}\n{text[-1500:]}")
        return "\n".join(parts)


def _wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode} before listening")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"{what} did not listen on {port} within {timeout:.0f} s")


@pytest.mark.parametrize("tls", [False, True], ids=["insecure", "tls"])
def test_superlink_and_three_supernodes_run_the_app(tmp_path, tls):
    if shutil.which("flower-superlink", path=str(BIN)) is None:
        pytest.fail("flower-superlink is not installed in this environment (flwr)")
    env = {
        **os.environ,
        "FLWR_HOME": str(tmp_path / "flwr-home"),
        # the nodes use this workspace's environment instead of installing the app's deps
        "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
        "QFED_CACHE_DIR": "",
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    procs = Processes(tmp_path)
    port = _free_port()
    if tls:
        ca, cert, key = _make_certificates(tmp_path)
        link_security = ["--ssl-ca-certfile", str(ca), "--ssl-certfile", str(cert)]
        link_security += ["--ssl-keyfile", str(key)]
        node_security = ["--root-certificates", str(ca)]
    else:
        link_security = node_security = ["--insecure"]
    try:
        link = procs.start(
            "superlink",
            [
                str(BIN / "flower-superlink"),
                *link_security,
                *("--host", "127.0.0.1", "--port", str(port)),
                *("--database", str(tmp_path / "state.db")),
            ],
            env,
        )
        _wait_for_port(port, link, "flower-superlink")
        for i in range(NODES):
            node_config = (
                f"partition-id={i} num-partitions={NODES} "
                f"state-dir='{tmp_path / 'ledgers'}' max-epsilon=8.0"
            )
            procs.start(
                f"supernode-{i}",
                [
                    str(BIN / "flower-supernode"),
                    *node_security,
                    *("--superlink", f"127.0.0.1:{port}", "--port", str(_free_port())),
                    *("--node-config", node_config),
                ],
                env,
            )
        home = Path(env["FLWR_HOME"])
        home.mkdir(parents=True, exist_ok=True)
        connection = [f'address = "127.0.0.1:{port}"']
        connection.append(f'root-certificates = "{ca}"' if tls else "insecure = true")
        (home / "config.toml").write_text("[superlink.e2e]\n" + "\n".join(connection) + "\n")
        out_dir = tmp_path / "run"
        run_config = f"{RUN_CONFIG} output-dir='{out_dir}' round-timeout=300.0"
        started = time.monotonic()
        result = subprocess.run(
            [str(BIN / "flwr"), "run", str(APP), "e2e", "--stream", "--run-config", run_config],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
        seconds = time.monotonic() - started
        report_path = out_dir / "report.json"
        assert report_path.exists(), (
            f"no report after {seconds:.0f} s; flwr run said:\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-3000:]}\n{procs.tail()}"
        )
        report = json.loads(report_path.read_text())
        assert [row["round"] for row in report["rounds"]] == [1, 2]
        assert all(sorted(row["replied"]) == [0, 1, 2] for row in report["rounds"])
        assert report["private"] is True
        assert report["final"]["epsilon_max"] <= 8.0 + 1e-9
        ledgers = sorted(p.name for p in (tmp_path / "ledgers").iterdir())
        assert ledgers == [f"ledger-partition-{i}.json" for i in range(NODES)]
    finally:
        procs.stop()
    assert all(proc.poll() is not None for _, proc in procs.started)
