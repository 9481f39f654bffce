"""Bounded load test of qservice on loopback: throughput and p50/p99 latency of a quick
endpoint and of predict, model load time and peak memory of the model-serving process, and
what overload gets.

    uv run --frozen python tools/bench_service.py --seconds 20 --concurrency 8

Starts ``qservice serve`` on a fresh SQLite file, trains a one-round federated model
(``--model minilm``: all-MiniLM-L6-v2 + LoRA, the seeds' model; ``tiny`` for a smoke run),
registers it (the worker exports it to ONNX), then measures. Everything is bounded by
``--seconds`` per phase and ``--requests`` per phase; a request that takes over 30 s counts
as hung.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from qservice import Client
from qservice.testing import sqlite_server

TWEET = "just landed in lisbon and the sun is out, best start to a holiday ever"
BQM = {"vartype": "SPIN", "linear": {"a": 0.5}, "quadratic": [["a", "b", -1.0]]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def hammer(
    url: str,
    key: str,
    method: str,
    path: str,
    body: dict,
    seconds: float,
    requests: int,
    concurrency: int,
) -> dict:
    """``concurrency`` clients in a loop until ``seconds`` or ``requests`` run out."""
    latencies: list[float] = []
    codes: dict[int, int] = {}
    hung = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    sent = [0]

    def loop() -> None:
        nonlocal hung
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as http:
            while time.monotonic() < deadline:
                with lock:
                    if sent[0] >= requests:
                        return
                    sent[0] += 1
                start = time.perf_counter()
                try:
                    code = http.request(method, path, json=body).status_code
                except httpx.TimeoutException:
                    with lock:
                        hung += 1
                    continue
                elapsed = time.perf_counter() - start
                with lock:
                    codes[code] = codes.get(code, 0) + 1
                    if code == 200:
                        latencies.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in range(concurrency):
            pool.submit(loop)
    wall = time.perf_counter() - started
    ok = len(latencies)
    return {
        "requests": sum(codes.values()) + hung,
        "ok": ok,
        "codes": {str(k): v for k, v in sorted(codes.items())},
        "hung": hung,
        "throughput_rps": ok / wall if wall else 0.0,
        "p50_ms": 1000 * percentile(latencies, 50) if ok else None,
        "p95_ms": 1000 * percentile(latencies, 95) if ok else None,
        "p99_ms": 1000 * percentile(latencies, 99) if ok else None,
    }


ENGINE_ALONE = """
import json, sys, time
from pathlib import Path
started = time.perf_counter()
from qservice.onnx_engine import load_engine
engine = load_engine(Path(sys.argv[1]), sys.argv[2])
load_s = time.perf_counter() - started
times = []
for _ in range(100):
    t = time.perf_counter()
    engine.predict([sys.argv[3]])
    times.append(time.perf_counter() - t)
times.sort()
peak = [l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM")]
heavy = {"torch", "transformers", "peft", "opacus", "flwr"} & set(sys.modules)
print(json.dumps({"load_s_incl_imports": load_s, "p95_ms": 1000 * times[94],
                  "peak_rss_mb": int(peak[0].split()[1]) / 1024, "heavy_modules": sorted(heavy)}))
"""


def engine_alone(folder: str, precision: str) -> dict:
    """The serving process's engine code in a fresh process holding nothing else."""
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", ENGINE_ALONE, folder, precision, TWEET],
        capture_output=True,
        text=True,
        check=True,
        # one thread, as the server runs (LiveServer sets it): OpenMP threads spinning on a
        # busy 2-core machine would measure the contention, not the engine
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase")
    parser.add_argument("--requests", type=int, default=2000, help="per phase")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--model", choices=("minilm", "tiny"), default="minilm")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "2")

    folder = Path(tempfile.mkdtemp(prefix="qservice-bench-"))
    server = sqlite_server(folder)
    key = server.make_key("bench", ["admin"])
    # rate limit high enough not to shape the throughput phases; overload has its own server
    server.start(
        QSERVICE_RATE_PER_SECOND="100000",
        QSERVICE_RATE_BURST="100000",
        QSERVICE_WORKERS="1",
        QSERVICE_MAX_IN_FLIGHT="64",
    )
    results: dict = {"model": args.model, "concurrency": args.concurrency, "cores": os.cpu_count()}
    try:
        with Client(server.url, key, timeout=600) as client:
            config = {
                "model": args.model,
                "num-clients": 2,
                "clients-per-round": 2,
                "rounds": 1,
                "max-examples-per-client": 32,
                "max-test-examples": 32,
                "batch-size": 16,
                "max-length": 40,
                "partition": "iid",
            }
            started = time.perf_counter()
            job = client.request("POST", "/v1/federated/runs", json={"config": config})
            done = client.wait(job["id"], timeout=1800, poll=1.0)
            assert done["status"] == "succeeded", done["error"]
            results["federated_run_s"] = time.perf_counter() - started
            started = time.perf_counter()
            model = client.register_model("bench", job["id"], timeout=1800)
            results["register_and_export_s"] = time.perf_counter() - started
            results["export"] = model["export"]
            (serving,) = server.children("qservice.model_server")
            results["serving_rss_before_model_mb"] = rss_mb(serving)
            t0 = time.perf_counter()
            client.predict("bench", [TWEET])
            results["model_load_first_request_s"] = time.perf_counter() - t0
            single = []
            for _ in range(100):
                t = time.perf_counter()
                client.predict("bench", [TWEET])
                single.append(time.perf_counter() - t)
            results["predict_one_tweet_sequential"] = {
                "p50_ms": 1000 * percentile(single, 50),
                "p95_ms": 1000 * percentile(single, 95),
                "p99_ms": 1000 * percentile(single, 99),
            }
        results["quick_solve"] = hammer(
            server.url,
            key,
            "POST",
            "/v1/solve",
            {"bqm": BQM, "solver": "exact"},
            args.seconds,
            args.requests,
            args.concurrency,
        )
        results["predict_concurrent"] = hammer(
            server.url,
            key,
            "POST",
            "/v1/models/bench/predict",
            {"texts": [TWEET]},
            args.seconds,
            args.requests,
            args.concurrency,
        )
        results["serving_peak_rss_float32_mb"] = peak_rss_mb(serving)
        with Client(server.url, key, timeout=600) as client:
            t0 = time.perf_counter()
            client.predict("bench", [TWEET], precision="int8")
            results["int8_load_first_request_s"] = time.perf_counter() - t0
        # both engines loaded (the cache keeps two): the serving process's peak
        results["serving_peak_rss_mb"] = peak_rss_mb(serving)
        results["api_rss_mb"] = rss_mb(server.process.pid)
        results["api_peak_rss_mb"] = peak_rss_mb(server.process.pid)
        folder_out = model["export"]["serving_dir"]
        results["engine_alone"] = engine_alone(folder_out, "float32")
        results["engine_alone_int8"] = engine_alone(folder_out, "int8")
    finally:
        server.stop()

    # overload: a server that allows 4 requests in flight and 20/s per key, hit by 32 clients
    folder2 = Path(tempfile.mkdtemp(prefix="qservice-overload-"))
    small = sqlite_server(folder2)
    key2 = small.make_key("bench", ["admin"])
    small.start(
        QSERVICE_RATE_PER_SECOND="20",
        QSERVICE_RATE_BURST="20",
        QSERVICE_WORKERS="1",
        QSERVICE_MAX_IN_FLIGHT="4",
    )
    try:
        results["overload"] = hammer(
            small.url,
            key2,
            "POST",
            "/v1/solve",
            {"bqm": BQM, "solver": "exact"},
            min(args.seconds, 10),
            args.requests,
            32,
        )
    finally:
        small.stop()
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    over = results["overload"]["codes"]
    shed = int(over.get("429", 0)) + int(over.get("503", 0))
    return 0 if results["overload"]["hung"] == 0 and shed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
