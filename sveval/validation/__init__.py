"""Checks of released folders: score and result files, published numbers, the model side."""
