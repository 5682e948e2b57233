"""Shared test set-up: offscreen Qt, one torch thread, small helpers."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
