"""The comparison tables of a several-model bench: best only among comparable rows, other protocols labelled."""

from llmrec.protocol import PROTOCOL_KEYS
from llmrec.reporting.groups import group_runs
from llmrec.reporting.summary import print_comparison


def run(model, hr10, n=50, **protocol):
    entry = {k: protocol.get(k, "same") for k in PROTOCOL_KEYS}
    entry.update(dataset="movielens-100k", n_samples=n,
                 metrics={"hr@10": {"value": hr10, "ci": [hr10 - 0.1, hr10 + 0.1]},
                          "parse_failure_rate": {"value": 0.0, "ci": [0.0, 0.0]}})
    return {"run_id": f"{model}__x", "model": model, "adapter": None, "tasks": {"direct": entry}}


def test_best_is_marked_within_a_protocol_and_never_on_a_tie():
    (group,) = group_runs([run("a", 0.3), run("b", 0.5), run("c", 0.9, n=3, sample_ids_sha256="other")])
    assert [[r.label for r in b.rows] for b in group.blocks] == [["b", "a"], ["c"]]
    assert group.blocks[0].best("hr@10") == 0.5  # c's 0.9 on 3 other samples is never best above them
    assert group.blocks[1].best("hr@10") is None
    assert group.blocks[0].best("parse_failure_rate") is None  # every row equal: nothing to point out


def test_rows_of_another_protocol_are_labelled(capsys):
    print_comparison([run("a", 0.3), run("b", 0.5, candidate_order="target-first")])
    out = capsys.readouterr().out
    assert "protocol" in out and "not comparable" in out and "candidate_order" in out
    print_comparison([run("a", 0.3), run("b", 0.5)])
    out = capsys.readouterr().out
    assert "same sample ids for every row" in out and "0.5000 ± 0.1000 *" in out and "0.3000 ± 0.1000 *" not in out
