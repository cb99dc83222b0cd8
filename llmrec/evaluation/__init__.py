"""Evaluation: the runner (samples in, records and scores out) and the predictors it asks (LLM or recommender)."""
