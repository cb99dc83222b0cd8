"""What makes two recorded numbers comparable.

Each task entry of a run's metrics.json records the keys below. Two entries that agree on every
PROTOCOL_KEYS value were scored on the same samples (same prepared data, same sample ids, same
candidates in the same order) with the same metric definitions, whatever the models were: their
numbers may sit side by side and be compared pairwise. SETTING_KEYS say how a model was asked
(prompt, decoding, scoring); they differ between the rows of a comparison and are listed with them.
The regression gate compares a run with an earlier run of the same configuration, so it requires
both to agree.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable

PROTOCOL_KEYS = ("dataset", "fingerprint", "split", "ranking_over", "candidates", "candidate_order", "seed",
                 "n_samples", "sample_ids_sha256", "metrics_version")
SETTING_KEYS = ("template", "template_hash", "shots", "scoring", "max_new_tokens", "temperature", "truncation",
                "limit")
NOT_RECORDED = "(not recorded)"  # the value shown for a key an older run did not record


def sample_ids_sha256(sample_ids: Iterable[str]) -> str:
    """One hash of a sample set: the sorted ids, one per line."""
    return hashlib.sha256("\n".join(sorted(sample_ids)).encode()).hexdigest()


def differences(a: dict, b: dict, keys: Iterable[str] = PROTOCOL_KEYS) -> list[tuple[str, Any, Any]]:
    """(key, a's value, b's value) for every key on which two task entries disagree."""
    return [(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)]


def differences_or_unknown(a: dict, b: dict, keys: Iterable[str] = PROTOCOL_KEYS) -> list[tuple[str, Any, Any]]:
    """(key, a's value, b's value) for every key on which two task entries disagree or that either did not
    record, shown as NOT_RECORDED. A key an older run did not record is unknown, so it agrees with nothing,
    not even another unknown; `differences` instead takes a missing key for None."""
    keys = tuple(keys)
    a = {k: a.get(k, NOT_RECORDED) for k in keys}
    b = {k: b.get(k, NOT_RECORDED) for k in keys}
    return [(k, a[k], b[k]) for k in keys if a[k] != b[k] or a[k] == NOT_RECORDED]


def protocol_of(entry: dict) -> tuple:
    """A task entry's protocol as a hashable value: entries with equal protocols are comparable."""
    return tuple((k, str(entry.get(k))) for k in PROTOCOL_KEYS)
