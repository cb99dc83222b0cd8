"""The neural sequential recommenders: each names its hyperparameters and its network module.

Defaults follow each paper's (or its reference implementation's) MovieLens-1M setting; the common ones
(hidden, max_length, dropout, lr, weight_decay, batch_size, epochs, patience) are in base.COMMON.
"""

from __future__ import annotations

from llmrec.errors import LLMRecError
from llmrec.recommenders.neural.base import NeuralRecommender


class SASRec(NeuralRecommender):
    # pmixer/SASRec.pytorch's ML-1M setting (2 blocks, 1 head, dropout 0.2, lr 1e-3, batch 128, maxlen 200)
    name, network_module = "sasrec", "sasrec"
    about = "self-attentive sequential model (Kang & McAuley 2018); loss ce over the catalogue, or bce"
    own = {"blocks": 2, "heads": 1, "loss": "ce"}
    choices = {"loss": ("ce", "bce")}


class GRU4Rec(NeuralRecommender):
    # Hidasi et al. 2016 as the comparison papers run it (RecBole's GRU4Rec: embedding, dropout, GRU, projection;
    # RecBole dropout 0.3, antklen/sasrec-bert4rec-recsys23 0.1); CE instead of the paper's TOP1/BPR
    name, network_module = "gru4rec", "gru4rec"
    about = "GRU over the history (Hidasi et al. 2016); softmax CE over the catalogue at every position"
    own = {"layers": 1, "dropout": 0.25}


class BERT4Rec(NeuralRecommender):
    # the paper's ML-1M setting (2 layers, 2 heads, hidden 64, dropout 0.1 (the released ML-1M config: 0.2),
    # mask_prob 0.2, max_length 200) with antklen/sasrec-bert4rec-recsys23's Adam lr 1e-3, batch 128 and
    # patience 20 (the authors' scripts: lr 1e-4 with warm-up and decay over 400k steps of 256, too long here)
    name, network_module = "bert4rec", "bert4rec"
    about = "bidirectional transformer trained by Cloze (Sun et al. 2019); CE at the masked positions"
    own = {"layers": 2, "heads": 2, "dropout": 0.1, "mask_prob": 0.2, "patience": 20}

    def __init__(self, seed: int = 2023, device: str = "auto", **options):
        super().__init__(seed, device, **options)
        if not 0 < self.mask_prob <= 1:
            raise LLMRecError(f"--model-args mask_prob: bert4rec expects a fraction in (0, 1], "
                              f"got {self.mask_prob!r}")


NEURAL_MODELS = (SASRec, GRU4Rec, BERT4Rec)
