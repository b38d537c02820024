"""Framework-free machine learning for the image classifier.

Nothing in this package imports Django or Celery (tests/ml_core/test_independence.py
enforces it). Modules that need TensorFlow (model, training, predictor, artifacts)
import it themselves, so the web process can use datasets, preprocessing and
evaluation without paying for, or forking, TensorFlow.
"""

import os

# TensorFlow's C++ start-up chatter (CPU feature notes) buries command output;
# warnings and errors still show. Set before any module here imports TensorFlow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
