"""Which engine reads a big Amazon review dump fastest, and in how much memory? The measurement behind
llmrec/data/columnar.py's choice of pyarrow.

    python benchmarks/json_engines.py [--reviews 1M] [--work FOLDER] [--repeat 2]

Each engine reads the same generated Amazon-2018 file (benchmarks/amazon_scale.py's generator, gzip) into
typed columns of the six keys llmrec uses, in its own fresh process (so its peak RSS is its own), in
round-robin order `--repeat` times; the table gives the best time and the peak RSS of each. Engines that
are not installed are listed as such (`pip install duckdb polars` to compare them). The line reader is
llmrec's own line-by-line parser (llmrec.data.amazon.line_records), the fallback for what the engine refuses.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from amazon_scale import REVIEW_FILE, parse_size, size_label, write_amazon_2018  # noqa: E402

KEYS = {"reviewerID": "string", "asin": "string", "overall": "float64", "unixReviewTime": "float64",
        "summary": "string", "reviewText": "string"}

# Each engine: code run in a child with PATH bound; it must leave the row count in `rows`.
ENGINES = {
    "pyarrow (streaming)": """
import pyarrow as pa, pyarrow.json as pj
schema = pa.schema([(k, getattr(pa, t)()) for k, t in KEYS.items()])
options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
reader = pj.open_json(pa.input_stream(PATH, compression="gzip"), read_options=pj.ReadOptions(block_size=16 << 20),
                      parse_options=options)
rows = sum(len(batch) for batch in reader)
""",
    "pyarrow (whole file)": """
import pyarrow as pa, pyarrow.json as pj
schema = pa.schema([(k, getattr(pa, t)()) for k, t in KEYS.items()])
options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
rows = pj.read_json(pa.input_stream(PATH, compression="gzip"), parse_options=options).num_rows
""",
    "duckdb": """
import duckdb
duckdb.sql("SET enable_progress_bar = false")
types = {"string": "VARCHAR", "float64": "DOUBLE"}
columns = "{" + ", ".join(f"{k}: '{types[t]}'" for k, t in KEYS.items()) + "}"
rows = duckdb.sql(f"SELECT * FROM read_json('{PATH}', format='newline_delimited', compression='gzip', "
                  f"columns={columns})").fetch_arrow_table().num_rows
""",
    "polars": """
import gzip, polars as pl
types = {"string": pl.String, "float64": pl.Float64}
with gzip.open(PATH, "rb") as f:
    rows = pl.read_ndjson(f.read(), schema={k: types[t] for k, t in KEYS.items()}).height
""",
    "line reader (llmrec)": """
from pathlib import Path
from llmrec.data.amazon import review_format, line_records
path = Path(PATH)
rows = sum(1 for _ in line_records(path, review_format(path)))
""",
}
CHILD = """
import sys, time
from pathlib import Path
KEYS, PATH = {keys!r}, {path!r}
started = time.perf_counter()
try:
    exec(compile({code!r}, "engine", "exec"))
except ImportError as e:
    print("missing", e.name)
    sys.exit(0)
seconds = time.perf_counter() - started
hwm = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
print("ok", rows, seconds, int(hwm.split()[1]) * 1024)
"""


def measure(code: str, path: Path) -> tuple[str, int, float, int]:
    child = CHILD.format(keys=KEYS, path=str(path), code=code)
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))})
    if done.returncode:
        return "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1], 0, 0.0, 0
    status, *rest = done.stdout.strip().splitlines()[-1].split()
    if status == "missing":
        return f"not installed ({rest[0]})", 0, 0.0, 0
    return "ok", int(rest[0]), float(rest[1]), int(rest[2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=parse_size, default=1_000_000)
    parser.add_argument("--work", type=Path, default=REPO / "data" / "amazon-scale")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    path = write_amazon_2018(args.work, args.reviews) / REVIEW_FILE
    best: dict[str, tuple[str, int, float, int]] = {}
    for _ in range(args.repeat):
        for name, code in ENGINES.items():
            result = measure(code, path)
            if name not in best or (result[0] == "ok" and result[2] < best[name][2]):
                best[name] = result
    print(f"{size_label(args.reviews)} reviews, {path.stat().st_size / 2**20:,.0f} MiB gzip, six keys, "
          f"best of {args.repeat} round-robin runs")
    print(f"{'engine':22} {'rows':>10} {'seconds':>8} {'peak RSS GiB':>13}")
    for name, (status, rows, seconds, peak) in best.items():
        if status != "ok":
            print(f"{name:22} {status}")
        else:
            print(f"{name:22} {rows:>10,} {seconds:>8.1f} {peak / 2**30:>13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
