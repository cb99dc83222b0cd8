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


class ECLSR(NeuralRecommender):
    # SASRec's encoder and settings; the ECL terms as the authors' ML-1M script (Tokkiu/ECL, run_ml1m.sh)
    name, network_module = "ecl-sr", "eclsr"
    about = ("SASRec with equivariant contrastive learning (Zhou et al. 2023): InfoNCE between dropout views, "
             "and a conditional discriminator of substituted items")
    own = {"blocks": 2, "heads": 1, "contrast_weight": 0.001, "temperature": 0.05, "contrast_window": 20,
           "discriminator_weight": 0.05, "substitute_share": 0.2}


NEURAL_MODELS = (SASRec, ECLSR)
