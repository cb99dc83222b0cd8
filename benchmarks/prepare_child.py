"""Prepare a dataset and build the samples of the tasks that use it, in a fresh process.

Run by benchmarks/run.py so that peak memory belongs to this work alone:

    python benchmarks/prepare_child.py movielens-1m CACHE_DIR rating,sequential,direct

prints one JSON line: seconds to import, to prepare, to build samples, to read every sample's
variables, sample counts, peak RSS.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def peak_rss_bytes() -> int:
    """This process's peak resident memory. VmHWM belongs to the current address space; ru_maxrss
    would also count the parent's memory at spawn time (Linux carries it across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def main() -> None:
    dataset, cache_dir, tasks = sys.argv[1], Path(sys.argv[2]), sys.argv[3].split(",")
    started = time.perf_counter()
    from llmrec.data import prepare_dataset
    from llmrec.tasks import SampleOptions, get_task

    imported = time.perf_counter()
    prepared = prepare_dataset(dataset, cache_dir=cache_dir)
    ready = time.perf_counter()
    samples = {name: get_task(name).build(prepared, SampleOptions()) for name in tasks}
    built = time.perf_counter()
    # Variables are built on first read (a run reads only those it renders); reading them all shows
    # what a run over every sample adds, and keeps them in the peak memory figure.
    for task_samples in samples.values():
        for sample in task_samples:
            len(sample.variables)
    read = time.perf_counter()
    print(json.dumps({
        "import_s": imported - started,
        "prepare_s": ready - imported,
        "samples_s": built - ready,
        "variables_s": read - built,
        "samples": {name: len(task_samples) for name, task_samples in samples.items()},
        "max_rss_bytes": peak_rss_bytes(),
    }))


if __name__ == "__main__":
    main()
