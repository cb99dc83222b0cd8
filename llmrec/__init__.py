"""llmrec: benchmark large language models as recommender systems."""

__version__ = "0.1.0"
