"""The neural sequential recommenders: each names its hyperparameters and its network module.

Defaults follow each paper's (or its reference implementation's) MovieLens-1M setting; the common ones
(hidden, max_length, dropout, lr, weight_decay, batch_size, epochs, patience) are in base.COMMON.
"""

from __future__ import annotations

from llmrec.recommenders.neural.base import NeuralRecommender


class SASRec(NeuralRecommender):
    # pmixer/SASRec.pytorch's ML-1M setting (2 blocks, 1 head, dropout 0.2, lr 1e-3, batch 128, maxlen 200)
    name, network_module = "sasrec", "sasrec"
    about = "self-attentive sequential model (Kang & McAuley 2018); loss ce over the catalogue, or bce"
    own = {"blocks": 2, "heads": 1, "loss": "ce"}
    choices = {"loss": ("ce", "bce")}


class DIFSR(NeuralRecommender):
    # The paper's Beauty config (AIM-SE/DIF-SR): fusion gate, CE loss, a linear attribute predictor, and
    # MAX_ITEM_LIST_LENGTH 50 (the gate reads whole score rows: its cost grows with the square of it).
    # lambda_attr 1, not Beauty's 10: on ML-100k genres, 10 lets the genre loss swamp the item loss (valid
    # NDCG@10 stalls near 0.04). Blocks and heads as sasrec here.
    name, network_module = "dif-sr", "difsr"
    about = ("decoupled side information fusion (Xie et al. 2022): item, position and category attention "
             "fused per layer (gate, concat or sum), an auxiliary category predictor; loss ce")
    own = {"blocks": 2, "heads": 1, "attribute_hidden": 64, "fusion": "gate", "lambda_attr": 1.0, "max_length": 50}
    choices = {"fusion": ("gate", "concat", "sum")}


NEURAL_MODELS = (SASRec, DIFSR)
