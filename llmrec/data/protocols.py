"""Split protocols: which rows of a prepared dataset are train, valid and test (`--splits NAME`).

- `llmrec` (the default): interactions leave-one-out per user (users with < 3 kept in train); ratings and
  reviews a seeded random 80/10/10 with cold valid/test rows moved to train; repeated reviews kept.
- `amazon-last-out`, `amazon-timestamp`: the Amazon Reviews 2023 benchmark's protocols (McAuley lab,
  hyp1231/AmazonReviews2023 benchmark_scripts/). Repeated reviews of a (user, item) pair are removed first,
  keeping the earliest (before k-core); then one rule labels interactions, ratings and reviews alike (for
  Amazon sources they are the same rows): the user's latest row test, the second latest valid (last-out),
  or global times in milliseconds (timestamp).

A protocol labels a frame sorted by (user, time); `sequences` labels the interactions, `rows` the ratings and
reviews. Each returns the labels and a count: users too short for a sequence split, rows moved to train.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from llmrec.errors import LLMRecError
from llmrec.registry import Registry

if TYPE_CHECKING:  # numpy and pandas are imported by the rules themselves: listing datasets stays cheap
    import pandas as pd

DEFAULT_SPLITS = "llmrec"
DEFAULT_KCORE = 5  # raw Amazon dumps: users and items with fewer interactions are filtered out
# amazon-timestamp's thresholds (ms since the epoch), the same for every category: train < T1 <= valid < T2 <= test.
VALID_FROM_MS, TEST_FROM_MS = 1628643414042, 1658002729837


@dataclass(frozen=True)
class SplitProtocol:
    """How a protocol labels rows. `formats`: the source formats it applies to (None: every dataset);
    `dedupe`: repeated (user, item) reviews are dropped at loading, keeping the earliest; `by_ms`: rows are
    ordered and labelled by `timestamp_ms` (ties within one second keep their order by milliseconds);
    `rows_from`: how the stats name the ratings' and reviews' split (`reviews_split_from`)."""

    sequences: Callable[["pd.DataFrame"], tuple["pd.Series", int]]
    rows: Callable[["pd.DataFrame", int], tuple["pd.Series", int]]
    rows_from: str = "random"
    formats: tuple[str, ...] | None = None
    dedupe: bool = False
    by_ms: bool = False


def leave_one_out(frame: "pd.DataFrame") -> tuple["pd.Series", int]:
    from llmrec.data import splits

    return splits.leave_one_out(frame)


def random_split(frame: "pd.DataFrame", seed: int) -> tuple["pd.Series", int]:
    from llmrec.data import splits

    return splits.random_split(frame, seed)


def last_out(frame: "pd.DataFrame") -> "pd.Series":
    """Per user, the latest row test, the second latest valid, earlier ones train (a user with one row: test)."""
    import numpy as np

    from llmrec.data.splits import split_labels

    from_end = frame.groupby("user", sort=False).cumcount(ascending=False).to_numpy()
    return split_labels(2 - np.minimum(from_end, 2))


def by_timestamp(frame: "pd.DataFrame") -> "pd.Series":
    """train: timestamp_ms < T1; valid: T1 <= timestamp_ms < T2; test: timestamp_ms >= T2."""
    import numpy as np

    from llmrec.data.splits import split_labels

    ms = frame["timestamp_ms"].to_numpy(np.int64)
    return split_labels((ms >= VALID_FROM_MS).astype(np.int8) + (ms >= TEST_FROM_MS))


def _uncounted(label: Callable[["pd.DataFrame"], "pd.Series"]):
    """A rule that leaves no user too short and moves no row: the count is 0 (for both frame kinds)."""

    def sequences(frame: "pd.DataFrame") -> tuple["pd.Series", int]:
        return label(frame), 0

    def rows(frame: "pd.DataFrame", seed: int) -> tuple["pd.Series", int]:
        return label(frame), 0

    return sequences, rows


SPLITS: Registry[SplitProtocol] = Registry("split protocol")
SPLITS.add(DEFAULT_SPLITS, SplitProtocol(leave_one_out, random_split),
           "interactions leave-one-out (users < 3 in train); ratings, reviews random 80/10/10, cold rows to train")
SPLITS.add("amazon-last-out", SplitProtocol(*_uncounted(last_out), "last-out", ("amazon",), dedupe=True, by_ms=True),
           "Amazon Reviews 2023: repeats removed; per user the latest row test, the second latest valid")
SPLITS.add("amazon-timestamp", SplitProtocol(*_uncounted(by_timestamp), "timestamp", ("amazon",), dedupe=True,
                                          by_ms=True),
           f"Amazon Reviews 2023: repeats removed; train < {VALID_FROM_MS} <= valid < {TEST_FROM_MS} <= test (ms)")


def split_protocol(name: str, dataset: str) -> SplitProtocol:
    """The protocol `name` for `dataset`; an unknown name, or one that does not apply to the dataset, refused."""
    if name not in SPLITS:
        raise LLMRecError(f"--splits: {SPLITS.unknown(name)}")
    protocol = SPLITS.get(name)
    kind, sep, _ = dataset.partition(":")
    if protocol.formats is not None and not (sep and kind in protocol.formats):
        formats = ", ".join(f"{f}:PATH" for f in protocol.formats)
        raise LLMRecError(f"--splits {name}: applies to {formats} datasets only, not {dataset!r} (use --splits "
                          f"{DEFAULT_SPLITS})")
    return protocol


def splits_settings(name: str) -> dict:
    """The protocol's part of the prepared fingerprint: nothing for the default, so earlier entries keep theirs."""
    return {} if name == DEFAULT_SPLITS else {"splits": name}


def held_out_stats(frame: "pd.DataFrame") -> dict:
    """Per held-out split: rows that are not their user's first of the split (no sample: tasks hold out the
    first), and users whose first held-out row has no earlier history row (a sample with an empty history).
    `frame` is sorted by (user, time)."""
    import numpy as np

    from llmrec.data.splits import HISTORY_SPLITS, first_per_user

    split, users = frame["split"].to_numpy(), frame["user"].to_numpy()
    not_first, without_history = {}, {}
    for name, history in HISTORY_SPLITS.items():
        rows = np.flatnonzero(split == name)
        first = first_per_user(users, rows)
        not_first[name] = int(rows.size - first.size)
        # rows are sorted by (user, time): history rows in [user's first row, first held-out row)
        in_history = np.concatenate(([0], np.isin(split, history).cumsum()))
        starts = np.searchsorted(users, users[first], "left")
        without_history[name] = int((in_history[first] == in_history[starts]).sum())
    return {"held_out_rows_not_first": not_first, "held_out_users_without_history": without_history}
