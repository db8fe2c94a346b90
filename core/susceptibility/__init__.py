"""Susceptibility: patch datasets, the six models, training, search, evaluation, SHAP, prediction."""
