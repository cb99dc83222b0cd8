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


class ECLSR(NeuralRecommender):
    # SASRec's encoder and settings; the ECL terms as the authors' ML-1M script (Tokkiu/ECL, run_ml1m.sh)
    name, network_module = "ecl-sr", "eclsr"
    about = ("SASRec with equivariant contrastive learning (Zhou et al. 2023): InfoNCE between dropout views, "
             "and a conditional discriminator of substituted items")
    own = {"blocks": 2, "heads": 1, "contrast_weight": 0.001, "temperature": 0.05, "contrast_window": 20,
           "discriminator_weight": 0.05, "substitute_share": 0.2}


class AttenMixer(NeuralRecommender):
    # the authors' code (Peiyance/Atten-Mixer-torch): L_4 pooling, scale 16, dropout 0.1, L2 1e-5, batch 100,
    # lr 1e-3; 3 levels as in the paper's overview (Fig. 4; the code defaults to 7). Hidden 64 and 4 heads (16
    # per head) where the code has 256 and 8, for CPU training; sessions: each user's last 50 items
    name, network_module = "atten-mixer", "attenmixer"
    about = ("multi-level attention readout over the last l items, no GNN (Zhang et al. 2023); "
             "sessions: the last max_length items; loss ce over the catalogue")
    own = {"max_length": 50, "dropout": 0.1, "weight_decay": 1e-5, "batch_size": 100,
           "levels": 3, "heads": 4, "p": 4.0, "scale": 16.0}


class ComiRecSA(NeuralRecommender):
    # THUDM/ComiRec's setting: hidden 64, K = 4 interests, lr 1e-3, batch 128, no dropout, its Taobao window
    # of 50 items (20 for Amazon Books)
    name, network_module = "comirec-sa", "comirec"
    about = ("multi-interest self-attentive model (ComiRec-SA, Cen et al. 2020): K interests, the best one scores "
             "an item; softmax over the catalogue")
    own = {"interests": 4, "dropout": 0.0, "max_length": 50}


class REMI(NeuralRecommender):
    # Tokkiu/REMI on the ComiRec-SA backbone (comirec-sa's settings): 1280 uniform negatives, beta 1 and lambda 100
    # (its README's command that reproduces the paper on Gowalla)
    name, network_module = "remi", "remi"
    about = ("ComiRec-SA trained with interest-aware hard negatives and routing regularization (REMI, Xie et al. "
             "2023)")
    own = {"interests": 4, "dropout": 0.0, "max_length": 50, "negatives": 1280, "beta": 1.0, "rr_lambda": 100.0}
    network_imports = ("comirec",)  # networks/remi.py builds on networks/comirec.py


NEURAL_MODELS = (SASRec, GRU4Rec, BERT4Rec, DIFSR, ACTSR, ECLSR, AttenMixer, ComiRecSA, REMI)
