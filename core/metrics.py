"""Evaluation: accuracy, per-class accuracy, confusion matrix, report."""
from __future__ import annotations

import numpy as np


def evaluate(y_true, y_pred, labels, *, y_train_true=None, y_train_pred=None):
    """Everything the results panel and the CLI show, as plain JSON-able values.

    Parameters
    ----------
    y_true, y_pred : sequences of str, test labels and predictions
    labels : list of str, every class in display order
    y_train_true, y_train_pred : optional training labels and predictions

    Returns
    -------
    dict with ``accuracy``, ``balanced_accuracy``, ``macro_f1``,
    ``train_accuracy`` (None without training data), ``per_class``
    {label: {accuracy, train_accuracy, precision, recall, f1, support}},
    ``confusion`` (rows true, columns predicted), ``labels``, ``report``.
    """
    from sklearn.metrics import classification_report, confusion_matrix, precision_recall_fscore_support

    labels = [str(x) for x in labels]
    y_true = np.asarray(y_true).astype(str)
    y_pred = np.asarray(y_pred).astype(str)
    cm = confusion_matrix(y_true, y_pred, labels=labels) if y_true.size else np.zeros((len(labels),) * 2, int)
    support = cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0) if y_true.size else (
        np.zeros(len(labels)),) * 4
    train_acc, train_per_class = None, {}
    if y_train_true is not None and len(y_train_true):
        tt = np.asarray(y_train_true).astype(str)
        tp = np.asarray(y_train_pred).astype(str)
        train_acc = float(np.mean(tt == tp))
        for lab in labels:
            m = tt == lab
            train_per_class[lab] = float(np.mean(tp[m] == lab)) if m.any() else None
    present = support > 0
    per_class = {
        lab: {
            "accuracy": None if np.isnan(recall[i]) else float(recall[i]),
            "train_accuracy": train_per_class.get(lab),
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(support[i]),
        }
        for i, lab in enumerate(labels)
    }
    report = (classification_report(y_true, y_pred, labels=labels, zero_division=0, digits=3)
              if y_true.size else "no test clips")
    return {
        "accuracy": float(np.mean(y_true == y_pred)) if y_true.size else None,
        "balanced_accuracy": float(np.nanmean(recall[present])) if present.any() else None,
        "macro_f1": float(np.mean(f[present])) if present.any() else None,
        "train_accuracy": train_acc,
        "per_class": per_class,
        "confusion": cm.astype(int).tolist(),
        "labels": labels,
        "report": report,
    }
