"""A simple defect classifier trained inside the tests (scikit-learn logistic regression), standing in for
the factory's own model: out-of-fold class probabilities from hand-made thumbnail features.

Features: the part's high-pass residual (dark spots, thin lines, shaded dents) as histograms at two
scales, and the deviation of the part's colour from its median (stains), each as a histogram.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image as PILImage
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

RESIDUAL_BINS = [-30, -12, -8, -5, -3, 3, 5, 8, 12, 30]
COLOUR_BINS = [-0.3, -0.1, -0.05, -0.02, 0.02, 0.05, 0.1, 0.3]


def features(thumbnail: bytes) -> np.ndarray:
    with PILImage.open(io.BytesIO(thumbnail)) as opened:
        rgb = np.asarray(opened.convert("RGB"), dtype=float)
    grey = rgb.mean(axis=2)
    part = ndimage.binary_erosion(grey > np.percentile(grey, 40), iterations=4)
    scale = grey[part].mean() / 100
    out: list[float] = []
    for sigma in (1.5, 4.0):
        residual = (grey - ndimage.gaussian_filter(grey, sigma))[part] / scale
        out += list(np.histogram(np.clip(residual, -30, 30), bins=RESIDUAL_BINS)[0] / part.sum() * 1000)
    for tint in ((rgb[..., 0] - rgb[..., 2]) / (grey + 1), rgb[..., 1] / (grey + 1)):
        deviation = tint[part] - np.median(tint[part])
        out += list(np.histogram(np.clip(deviation, -0.3, 0.3), bins=COLOUR_BINS)[0] / part.sum() * 1000)
    return np.log1p(np.array(out))


def out_of_fold_probabilities(x: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """5-fold cross-validated probabilities (each image scored by a model that never saw its label)."""
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, C=0.1))
    probs = cross_val_predict(model, x, labels, cv=5, method="predict_proba")
    full = np.zeros((len(labels), n_classes))
    full[:, np.unique(labels)] = probs
    return full
