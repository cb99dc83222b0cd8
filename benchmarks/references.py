"""The trained references' accuracy next to their published figures and targets, with training time and memory.

    python benchmarks/references.py [--dataset movielens-1m] [--models sasrec,gru4rec,bert4rec] [--versus itemknn]
    python benchmarks/references.py --models dif-sr,remi --against-base   # each next to the model it builds on

Each model runs as `llmrec bench --task sequential,direct` in its own process (so its peak memory is its own),
in one llmrec home (--home, default ./results/references-home: trained models are reused on a second call).
The table gives HR@10 and NDCG@10 with 95% CIs, the published figure and the issue's target where there is one,
the epochs and seconds training took (from the run manifest) and the process's peak RSS. `--versus` adds a
reference model and says, per task, whether each trained model's HR@10 interval lies wholly above it.
`--against-base` runs each model's base too (BASES: the model it extends or is compared with) and prints the
paired comparison on their shared samples, as `llmrec compare A B`: HR@10 of A - B, its 95% paired bootstrap
interval and the permutation p-value.
Targets are checked, not timed: the times are what this machine measured, to be read, not gated.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# published HR@10 / NDCG@10 (sequential: full catalogue, Klenitskiy & Vasilev 2023; direct: 1 + 100 sampled
# negatives, Kang & McAuley 2018) and the targets this project set itself
PUBLISHED = {
    ("movielens-1m", "sasrec", "sequential"): (0.315, 0.182),
    ("movielens-1m", "sasrec", "direct"): (0.8245, 0.5905),
    ("movielens-1m", "bert4rec", "sequential"): (0.284, 0.154),
}
TARGETS = {
    ("movielens-1m", "sasrec", "sequential"): {"hr@10": 0.25},
    ("movielens-1m", "sasrec", "direct"): {"hr@10": 0.80, "ndcg@10": 0.57},
}
TASKS = ("sequential", "direct")
# the model each one extends or is read against (README's comparison table)
BASES = {"sasrec": "itemknn", "gru4rec": "sasrec", "bert4rec": "sasrec", "dif-sr": "sasrec", "ac-tsr": "sasrec",
         "ecl-sr": "sasrec", "atten-mixer": "sasrec", "remi": "comirec-sa"}


def run_bench(model: str, dataset: str, home: Path, extra: list[str]) -> tuple[Path, float]:
    """The run folder bench wrote, and the peak RSS (GiB) of its process."""
    env = {**os.environ, "LLMREC_HOME": str(home)}
    command = [sys.executable, "-m", "llmrec", "bench", "--model", model, "--task", ",".join(TASKS),
               "--dataset", dataset, *extra]
    with tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own resource usage
        err.seek(0)
        stderr = err.read()
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"{' '.join(command)} failed:\n{stderr[-2000:]}")
    folder = next(line.split("results: ", 1)[1].strip() for line in stderr.splitlines()
                  if line.startswith("results: "))
    return Path(folder), usage.ru_maxrss / (1 << 20)  # KiB on Linux


def rows_of(model: str, dataset: str, folder: Path, peak_gib: float) -> list[dict]:
    metrics = json.loads((folder / "metrics.json").read_text())
    manifest = json.loads((folder / "manifest.json").read_text())
    fitted = (manifest.get("model_info") or {}).get("fitted", {})
    rows = []
    for task in TASKS:
        m = metrics["tasks"][task]["metrics"]
        fit = fitted.get(task, {})
        rows.append({"model": model, "task": task, "n": metrics["tasks"][task]["n_samples"],
                     "hr@10": m["hr@10"], "ndcg@10": m["ndcg@10"],
                     "published": PUBLISHED.get((dataset, model, task)), "target": TARGETS.get((dataset, model, task)),
                     "epochs": fit.get("epochs"), "best_epoch": fit.get("best_epoch"),
                     "train_s": fit.get("train_seconds"), "reused": "reused" in fit, "peak_gib": peak_gib})
    return rows


def passed(row: dict) -> str:
    if not row["target"]:
        return ""
    ok = all(row[metric]["value"] >= bound for metric, bound in row["target"].items())
    return ("pass " if ok else "FAIL ") + ", ".join(f"{k} >= {v}" for k, v in row["target"].items())


def show(rows: list[dict], versus: dict[str, dict] | None) -> None:
    def interval(m):
        return f"{m['value']:.4f} [{m['ci'][0]:.4f}, {m['ci'][1]:.4f}]"

    print(f"{'model':12} {'task':10} {'n':>5}  {'HR@10 [95% CI]':26} {'NDCG@10 [95% CI]':26} {'published':13} "
          f"{'epochs':>9} {'train s':>8} {'peak GiB':>8}  target / versus")
    for r in rows:
        pub = f"{r['published'][0]:.3f}/{r['published'][1]:.3f}" if r["published"] else "-"
        epochs = f"{r['best_epoch']}/{r['epochs']}" if r["epochs"] else "-"
        train = ("cached" if r["reused"] else f"{r['train_s']:.0f}") if r["train_s"] is not None else "-"
        note = passed(r)
        if versus and r["task"] in versus and r["model"] != versus[r["task"]]["model"]:
            other = versus[r["task"]]
            above = r["hr@10"]["ci"][0] > other["hr@10"]["ci"][1]
            note += f"{'; ' if note else ''}HR@10 {'above' if above else 'NOT above'} {other['model']}'s CI"
        print(f"{r['model']:12} {r['task']:10} {r['n']:>5}  {interval(r['hr@10']):26} {interval(r['ndcg@10']):26} "
              f"{pub:13} {epochs:>9} {train:>8} {r['peak_gib']:>8.2f}  {note}")


def show_against_bases(folders: dict[str, Path]) -> None:
    from llmrec.reporting.compare import compare_runs

    print("\nA vs its base B on the shared samples: HR@10 A - B [95% paired bootstrap CI], permutation p")
    for model, base in BASES.items():
        if model in folders and base in folders and model != base:
            cells = []
            for c in compare_runs(folders[model], folders[base], list(TASKS)):
                m = next(m for m in c.metrics if m.metric == "hr@10")
                cells.append(f"{c.task} {m.diff:+.4f} [{m.ci[0]:+.4f}, {m.ci[1]:+.4f}] p {m.p:.4f} ({m.verdict})")
            print(f"{model:12} vs {base:12} " + "; ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="movielens-1m")
    parser.add_argument("--models", default="sasrec,gru4rec,bert4rec")
    parser.add_argument("--versus", default="itemknn", help="a reference model to compare with ('' for none)")
    parser.add_argument("--home", type=Path, default=Path("results/references-home"))
    parser.add_argument("--bench-args", default="", help="more bench options, e.g. '--device cuda'")
    parser.add_argument("--against-base", action="store_true", help="also run each model's base and compare")
    a = parser.parse_args()
    rows, versus, folders = [], None, {}
    models = [m for m in a.models.split(",") if m]
    if a.against_base:
        models += [BASES[m] for m in models if m in BASES and BASES[m] not in models]
    if a.versus and a.versus not in models:
        models.insert(0, a.versus)
    for model in dict.fromkeys(models):
        folder, peak = run_bench(model, a.dataset, a.home, a.bench_args.split())
        rows += rows_of(model, a.dataset, folder, peak)
        folders[model] = folder
        print(f"{model}: {folder}", file=sys.stderr, flush=True)
    if a.versus:
        versus = {r["task"]: r for r in rows if r["model"] == a.versus}
    print(f"{a.dataset}: sequential ranks the full catalogue minus the user's history; direct ranks the target "
          f"among its sampled negatives (published direct figures use 100 negatives)")
    show(rows, versus)
    if a.against_base:
        show_against_bases(folders)


if __name__ == "__main__":
    main()
