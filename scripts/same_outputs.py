"""Do two commits give the same results? Runs the same benchmarks on both and compares the records.

    python scripts/same_outputs.py BEFORE AFTER            # e.g. main~3 HEAD
    python scripts/same_outputs.py BEFORE AFTER --quick    # classic models on --limit 200 only

Each commit is checked out into a temporary worktree and run with this interpreter (its environment must
have llmrec's dependencies). Every task runs with a classic model that does it (full test sets) and with
SmolLM2 (--limit 5). samples.jsonl must be byte-identical and metrics.json identical except for its
`created` time and its `run_id` (the identity hash may change with the code). Exit 0 when everything
matches, 1 otherwise; a line per run either way.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = [  # (model, tasks, extra options)
    ("random", "rating,sequential,direct", ()),
    ("popularity", "rating,sequential,direct", ()),
    ("itemknn", "sequential,direct", ()),
    ("mf", "rating", ()),
    ("user-mean", "rating", ()),
    ("item-mean", "rating", ()),
    ("lead", "explanation,review", ()),
    ("smollm2", "all", ("--limit", "5")),
    ("smollm2", "sequential,direct", ("--limit", "3", "--scoring", "likelihood")),
]
VOLATILE = ("created", "run_id")  # metrics.json keys that name the run or its time, not its results


def bench(tree: Path, out: Path, data: Path, model: str, tasks: str, extra: tuple[str, ...]) -> Path:
    """The run folder of one bench command (`out` must be new)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "LLMREC_DATA_DIR": str(data)}
    command = [sys.executable, "-m", "llmrec", "bench", "--model", model, "--task", tasks,
               "--output", str(out), *extra]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{tree}: {' '.join(command[2:])} failed:\n{done.stderr[-2000:]}")
    (folder,) = (p for p in out.iterdir() if p.is_dir())
    return folder


def comparable(metrics_file: Path) -> dict:
    data = json.loads(metrics_file.read_text())
    return {k: v for k, v in data.items() if k not in VOLATILE}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--quick", action="store_true", help="classic models on --limit 200, no SmolLM2")
    args = parser.parse_args()
    runs = [(m, t, ("--limit", "200")) for m, t, e in RUNS if m != "smollm2"] if args.quick else RUNS
    with tempfile.TemporaryDirectory(prefix="same-outputs-") as tmp:
        root = Path(tmp)
        folders = {}
        for ref in (args.before, args.after):
            tree = root / ref.replace("/", "_").replace("~", "-")
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(tree), ref], check=True)
            try:
                # one data folder per commit: preparation is part of what is compared
                folders[ref] = [bench(tree, root / f"out-{tree.name}" / str(n), root / f"data-{tree.name}", m, t, e)
                                for n, (m, t, e) in enumerate(runs)]
            finally:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=True)
        same = True
        for n, (model, tasks, extra) in enumerate(runs):
            a, b = folders[args.before][n], folders[args.after][n]
            samples = (a / "samples.jsonl").read_bytes() == (b / "samples.jsonl").read_bytes()
            metrics = comparable(a / "metrics.json") == comparable(b / "metrics.json")
            lines = len((a / "samples.jsonl").read_bytes().splitlines())
            verdict = "identical" if samples and metrics else (
                "DIFFERENT " + ", ".join(n for n, ok in (("samples.jsonl", samples), ("metrics.json", metrics)) if not ok))
            print(f"{model:11} {tasks:25} {' '.join(extra):30} {lines:6} samples  {verdict}")
            same &= samples and metrics
        print("same outputs" if same else "outputs differ")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
