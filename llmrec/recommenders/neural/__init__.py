"""Neural sequential recommenders (SASRec and others) and the one trainer they share.

- data.py: training sequences and valid targets from the prepared splits (test never read);
- trainer.py: epochs, valid NDCG@10, early stopping, per-epoch checkpoints and resume, progress;
- base.py: `NeuralRecommender` (hyperparameters, the content-keyed cache of trained weights, scoring);
- models.py: the registered models; networks/: one torch module per model.
"""

from llmrec.recommenders.neural.models import NEURAL_MODELS

__all__ = ["NEURAL_MODELS"]
