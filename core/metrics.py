"""Evaluation: accuracy, per-class accuracy, confusion matrix, report — thin over ``sklearn.metrics``."""
from __future__ import annotations

import numpy as np


def _per_class_recall(y_true, y_pred, labels):
    """Recall of each label (its accuracy), None for a label with no clips; and the supports."""
    from sklearn.metrics import precision_recall_fscore_support

    _, recall, _, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return [float(r) if s else None for r, s in zip(recall, support)], support


def evaluate(y_true, y_pred, labels, *, y_train_true=None, y_train_pred=None):
    """Everything the results panel and the CLI show, as plain JSON-able values.

    Parameters
    ----------
    y_true, y_pred : sequences of str, test labels and predictions
    labels : list of str, every class in display order
    y_train_true, y_train_pred : optional training labels and predictions

    Returns
    -------
    dict with ``accuracy``, ``balanced_accuracy`` (mean recall over the classes
    that have test clips, as ``sklearn.metrics.balanced_accuracy_score``),
    ``macro_f1`` (over the same classes), ``train_accuracy`` (None without
    training data), ``per_class`` {label: {accuracy, train_accuracy,
    precision, recall, f1, support}}, ``confusion`` (rows true, columns
    predicted), ``labels``, ``report``.
    """
    from sklearn.metrics import (
        accuracy_score, classification_report, confusion_matrix, f1_score, precision_recall_fscore_support,
        recall_score,
    )

    labels = [str(x) for x in labels]
    y_true = np.asarray(y_true).astype(str)
    y_pred = np.asarray(y_pred).astype(str)
    n = len(labels)
    if y_true.size:
        cm = confusion_matrix(y_true, y_pred, labels=labels)
        p, r, f, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    else:
        cm, (p, r, f, support) = np.zeros((n, n), int), (np.zeros(n),) * 3 + (np.zeros(n, int),)
    present = [lab for lab, s in zip(labels, support) if s]
    # balanced_accuracy_score itself warns when a prediction is a class without test clips;
    # the macro recall over the classes present is the same number, without the warning.
    balanced = (float(recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0))
                if present else None)
    macro_f1 = float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)) if present else None
    train_acc, train_recall = None, [None] * n
    if y_train_true is not None and len(y_train_true):
        tt = np.asarray(y_train_true).astype(str)
        tp = np.asarray(y_train_pred).astype(str)
        train_acc = float(accuracy_score(tt, tp))
        train_recall, _ = _per_class_recall(tt, tp, labels)
    per_class = {
        lab: {
            "accuracy": float(r[i]) if support[i] else None,
            "train_accuracy": train_recall[i],
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
        "accuracy": float(accuracy_score(y_true, y_pred)) if y_true.size else None,
        "balanced_accuracy": balanced,
        "macro_f1": macro_f1,
        "train_accuracy": train_acc,
        "per_class": per_class,
        "confusion": np.asarray(cm).astype(int).tolist(),
        "labels": labels,
        "report": report,
    }
