"""Prepare a dataset and build the samples of the tasks that use it, in a fresh process.

Run by benchmarks/run.py so that peak memory belongs to this work alone:

    python benchmarks/prepare_child.py movielens-1m CACHE_DIR rating,sequential,direct

prints one JSON line: seconds to import, to prepare, to build samples, sample counts, peak RSS.
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
    counts = {name: len(get_task(name).build(prepared, SampleOptions())) for name in tasks}
    built = time.perf_counter()
    print(json.dumps({
        "import_s": imported - started,
        "prepare_s": ready - imported,
        "samples_s": built - ready,
        "samples": counts,
        "max_rss_bytes": peak_rss_bytes(),
    }))


if __name__ == "__main__":
    main()
