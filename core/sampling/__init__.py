"""Certainty-factor model, absence (non-landslide) sampling strategies and train/test splits."""
