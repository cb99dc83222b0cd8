"""The networks, one module per model, each with a `Network` torch module: `loss(batch)` and `score(histories)`.

They import torch at the top, so they load only when a model trains or predicts (`llmrec --help` stays fast).
"""
