"""Peak memory of keeping a large result (issue 13), printed as figures (not asserted).

A DataFrame of 10^6 rows x 10 columns (two int64, an int32, a float64, a float32, three text
columns, a datetime, a bool) is kept the three ways a launcher may keep it, for every format daskrun
writes (csv, parquet):
  - `output.store` to S3: a real moto server on 127.0.0.1 (tests/support/servers.py);
  - the log fallback: `output.print_result` to the process's stdout, which is a file here
    as it is the kubelet's log file in a pod;
  - `daskrun recover` of that log back to a file;
and, for comparison, what the launcher does when there is no `output` at all:
`runner.keep_result`, which prints the whole table (`DataFrame.to_string`) before the block.

Each measurement is a fresh Python process (this file with --measure), so its peak RSS
(ru_maxrss) is its own. It imports what it needs and builds the DataFrame first; then the
kernel's peak-RSS mark is reset to the current RSS (Linux: /proc/self/clear_refs), which is
the baseline; the figure is the peak during the step minus that baseline, and its ratio to
`df.memory_usage(deep=True).sum()`. An S3 client is created once before the baseline (boto3
loads its service model once per process), so the S3 figure is what the result costs.

Afterwards the recovered file is compared with the object stored on S3 in the same format
(sha256): the three paths must carry the same bytes.

Run from the repository root: `make bench-result` (`BENCH_ARGS="--rows 100000"` for a quick
run, `--no-table` to skip the slow no-output path). It imports the test helpers, so tests/support must be on PYTHONPATH (the target does so).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daskrun.result_block import FORMATS

BUCKET = "bench"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
MIB = 1024 * 1024


def build_frame(rows: int) -> Any:
    """10 columns of mixed dtypes; text with the characters that make CSV and the log work."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(13)
    words = ["iris", "wine", "digits", "größe", "a,b", 'say "hi"', "two\nlines", "tab\there", "naïve", "x"]
    picks = rng.integers(0, len(words), (rows, 4))
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "big": rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, rows, dtype=np.int64),
            "count": rng.integers(0, 1000, rows, dtype=np.int32),
            "score": rng.standard_normal(rows),
            "ratio": np.where(rng.random(rows) < 0.1, np.nan, rng.random(rows)).astype(np.float32),
            "dataset": pd.Series([words[i] for i in picks[:, 0]]),
            "run": pd.Series([f"run-{i:07d}" for i in range(rows)]),
            "note": pd.Series([" ".join(words[i] for i in row) for row in picks]),
            "when": pd.date_range("2026-01-01", periods=rows, freq="37s"),
            "ok": rng.random(rows) < 0.5,
        }
    )


def _peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak() -> bool:
    """Bring the peak-RSS mark down to the current RSS; False where the kernel cannot."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # give freed heap back, so the baseline is what is live
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """One step in this process: build the frame (unless recovering), reset, run, read the peak."""
    from daskrun import cli, output
    from daskrun.config import Output

    frame_bytes = args.frame_bytes
    if args.measure == "recover":
        step: Callable[[], object] = functools.partial(cli.main, ["recover", args.log, "-o", args.result])
    else:
        df = build_frame(args.rows)
        frame_bytes = int(df.memory_usage(deep=True).sum())
        if args.measure == "s3":
            import boto3

            boto3.client("s3", endpoint_url=args.endpoint)  # the service model, loaded once per process
            target = Output(path=f"s3://{BUCKET}/large.{args.format}", endpoint_url=args.endpoint)
            step = functools.partial(output.store, df, target)
        elif args.measure == "no-output":
            from daskrun import runner
            from daskrun.config import load_config

            config = load_config({"run": {"function": "daskrun.examples.benchmark.run_benchmark"}})
            step = functools.partial(runner.keep_result, df, config)  # to stdout, here /dev/null
        else:
            step = functools.partial(output.print_result, df, fmt=args.format)  # sys.stdout is the log file
    reset = _reset_peak()
    baseline = _peak_kib()
    started = time.perf_counter()
    outcome = step()
    seconds = time.perf_counter() - started
    if args.measure == "recover" and outcome != 0:
        sys.exit(f"daskrun recover exited with {outcome}")
    return {
        "seconds": seconds,
        "baseline_kib": baseline,
        "peak_kib": _peak_kib(),
        "frame_bytes": frame_bytes,
        "reset": reset,
    }


def _child(step: str, fmt: str, rows: int, workdir: Path, endpoint: str, frame_bytes: int = 0) -> dict[str, Any]:
    report = workdir / f"{step}.{fmt}.json"
    log = workdir / f"log.{fmt}"
    argv = [
        sys.executable,
        __file__,
        "--measure",
        step,
        "--format",
        fmt,
        "--rows",
        str(rows),
        "--endpoint",
        endpoint,
        "--log",
        str(log),
        "--result",
        str(workdir / f"recovered.{fmt}"),
        "--frame-bytes",
        str(frame_bytes),
        "--report",
        str(report),
    ]
    env = {**os.environ, **CREDENTIALS}
    with open(log if step == "log" else os.devnull, "wb") as stdout:
        done = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, env=env, text=True)
    if done.returncode != 0:
        sys.exit(f"{step} ({fmt}) failed with exit {done.returncode}:\n{done.stderr}")
    return json.loads(report.read_text())


def _sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(MIB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256_of_object(endpoint: str, key: str) -> str:
    import boto3

    body = boto3.client("s3", endpoint_url=endpoint).get_object(Bucket=BUCKET, Key=key)["Body"]
    digest = hashlib.sha256()
    for chunk in body.iter_chunks(MIB):
        digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=10**6, help="rows of the DataFrame (default 10^6)")
    parser.add_argument("--measure", choices=["s3", "log", "recover", "no-output"], help=argparse.SUPPRESS)
    for hidden in ("--format", "--endpoint", "--log", "--result", "--report"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--frame-bytes", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--no-table", action="store_true", help="skip the launcher's no-output path (slow: to_string)")
    args = parser.parse_args()
    if args.measure:
        Path(args.report).write_text(json.dumps(measure(args)))
        return 0

    try:
        from servers import moto_s3
    except ImportError:
        sys.exit("large_result.py needs tests/support on PYTHONPATH: run `make bench-result`")
    import boto3

    os.environ.update(CREDENTIALS)
    rows: list[tuple[str, str, dict[str, Any], int, str]] = []
    with moto_s3() as endpoint, tempfile.TemporaryDirectory(prefix="daskrun-bench-") as scratch:
        workdir = Path(scratch)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        for fmt in FORMATS:
            stored = _child("s3", fmt, args.rows, workdir, endpoint)
            printed = _child("log", fmt, args.rows, workdir, endpoint)
            recovered = _child("recover", fmt, args.rows, workdir, endpoint, printed["frame_bytes"])
            same = _sha256_of_file(workdir / f"recovered.{fmt}") == _sha256_of_object(endpoint, f"large.{fmt}")
            log_bytes = (workdir / f"log.{fmt}").stat().st_size
            rows.append(("output.store to S3 (moto)", fmt, stored, 0, ""))
            rows.append(("log fallback (print_result)", fmt, printed, log_bytes, ""))
            rows.append(("daskrun recover LOG -o FILE", fmt, recovered, 0, "same bytes as S3" if same else "DIFFERS"))
        if not args.no_table:
            table = _child("no-output", "csv", args.rows, workdir, endpoint)
            rows.append(("keep_result, no output", "csv", table, 0, "the table (to_string), then the block"))
    frame = rows[0][2]["frame_bytes"]
    print(f"{args.rows:,} rows x 10 columns; DataFrame memory_usage(deep=True): {frame / MIB:.1f} MiB")
    print(f"{'path':30} {'format':8} {'seconds':>8} {'baseline':>9} {'peak':>8} {'+peak':>8} {'x df':>6}  note")
    print(f"{'':30} {'':8} {'':>8} {'MiB':>9} {'MiB':>8} {'MiB':>8}")
    for name, fmt, figures, log_bytes, note in rows:
        increase = (figures["peak_kib"] - figures["baseline_kib"]) * 1024
        notes = [note] if note else []
        if log_bytes:
            notes.append(f"log {log_bytes / MIB:.0f} MiB")
        if not figures["reset"]:
            notes.append("peak mark not reset: baseline includes building the frame")
        line = (
            f"{name:30} {fmt:8} {figures['seconds']:8.2f} {figures['baseline_kib'] / 1024:9.0f} "
            f"{figures['peak_kib'] / 1024:8.0f} {increase / MIB:8.0f} {increase / frame:6.2f}  {'; '.join(notes)}"
        )
        print(line.rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
