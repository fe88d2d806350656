"""How long the hostile inputs of issue 8 take: `validate` on each, and the log fallback.

Prints figures; asserts nothing (speed targets live here, not in the tests):
- `daskrun validate` (in process) on every hostile document, worst of 3 runs each; the
  target is well under 1 s each.
- print_result + recover of 10^6 rows, as CSV and as Parquet.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from daskrun import cli
from daskrun.output import print_result
from daskrun.result_block import recover_block
from daskrun.safe_yaml import MAX_BYTES

LAUGHS = "\n".join(
    ['l0: &l0 ["lol"]'] + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    + ["run: {function: a.b, args: {x: *l9}}"]
)
DOCUMENTS = {
    "billion laughs (9^9 values)": LAUGHS,
    "100k nested lists": "run: {function: a.b, args: {x: " + "[" * 100_000 + "]" * 100_000 + "}}\n",
    "memory 1e999999999": "run: {function: a.b}\ndask_cluster: {worker_config: {resources: {memory: 1e999999999}}}\n",
    "memory of 10^6 digits": "run: {function: a.b}\ndask_cluster: {worker_config: {resources: {memory: '"
                             + "9" * 10**6 + "'}}}\n",
    "int of 10^6 digits": "run: {function: a.b, args: {x: " + "9" * 10**6 + "}}\n",
    "90k args": "run:\n  function: a.b\n  args:\n" + "".join(f"    a{i}: {i}\n" for i in range(90_000)),
    "9,900 args (just under the value cap)": "run:\n  function: a.b\n  args:\n"
                                             + "".join(f"    a{i}: {i}\n" for i in range(9_900)),
    "a flow list of 500k values": "run: {function: a.b, args: {x: [" + "1," * 500_000 + "1]}}\n",
    "file just under the size cap": "run: {function: a.b}\n#" + "x" * (MAX_BYTES - 30) + "\n",
    "10^4 duplicate keys": "run: {function: a.b}\n" + "x: 1\n" * 10_000,
    "image of 10^5 characters": "run: {function: a.b}\ndask_cluster: {worker_config: {image: '"
                                + "a-" * 50_000 + "'}}\n",
}


def validate_seconds(text: str) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "values.yaml"
        path.write_text(text)
        best = float("inf")
        for _ in range(3):
            sink = io.StringIO()
            started = time.perf_counter()
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                code = cli.main(["validate", str(path)])
            best = min(best, time.perf_counter() - started)
    return best, code


def log_fallback_seconds(df: pd.DataFrame, fmt: str) -> tuple[float, float, int]:
    buffer = io.StringIO()
    started = time.perf_counter()
    print_result(df, buffer, fmt)
    printed = time.perf_counter() - started
    text = buffer.getvalue()
    started = time.perf_counter()
    recovered = recover_block(text)
    assert recovered.rows == len(df)
    return printed, time.perf_counter() - started, len(text)


def main() -> int:
    print(f"{'validate: document':45} {'seconds':>8} exit")
    for name, text in DOCUMENTS.items():
        seconds, code = validate_seconds(text)
        print(f"{name:45} {seconds:8.3f} {code}")
    rng = np.random.default_rng(8)
    n = 10**6
    df = pd.DataFrame({"i": rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64), "f": rng.standard_normal(n),
                       "s": rng.choice(["iris", "wine\r\n", "a\u2028b", "x,y"], n)})
    print(f"\n{'log fallback, 10^6 rows':45} {'print s':>8} {'recover s':>9} {'log MB':>7}")
    for fmt in ("csv", "parquet"):
        printed, recovered, size = log_fallback_seconds(df, fmt)
        print(f"{fmt:45} {printed:8.2f} {recovered:9.2f} {size / 1e6:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
