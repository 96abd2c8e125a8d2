"""Hyper-parameter search behind ``dlcli tune`` (docs/tuning.md), on Optuna.

``space`` reads and checks the search space (no Optuna, no TensorFlow); ``storage`` opens
the study's storage from a URL; ``engine.tune`` runs trials as ordinary run folders;
``summary`` reads a study back (best trial, ``best.yaml``, pictures). Optuna and
TensorFlow are imported only by ``engine``, ``storage`` and ``summary``.
"""
