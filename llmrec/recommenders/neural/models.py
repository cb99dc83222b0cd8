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


class ACTSR(NeuralRecommender):
    # SASRec's defaults; the calibrators' own: calibration = the share of the calibrated attention in each
    # block (the reference code's fixed combine_ratio 0.5), mask_weight = the weight of the attacker's budget
    # ||1 - M||, here a root mean square over the visible pairs (the reference's configs put 0.03 on the
    # unnormalised norm over the whole batch, a far larger number)
    name, network_module = "ac-tsr", "actsr"
    about = ("SASRec with attention calibration (Zhou et al. 2023): spatial (order, distance) and adversarial "
             "calibrators; loss ce over the catalogue, or bce")
    own = {"blocks": 2, "heads": 1, "loss": "ce", "calibration": 0.5, "mask_weight": 0.3}
    choices = {"loss": ("ce", "bce")}


NEURAL_MODELS = (SASRec, ACTSR)
