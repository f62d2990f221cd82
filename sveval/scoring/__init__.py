"""Scoring embeddings: cosine, s-norm and AS-norm with a streamed cohort, one run per trial lists."""
