"""Dynamic time warping of frame sequences (core.templates): the distance your takes are matched with."""
import numpy as np
import pytest

from core.templates import Templates, dtw_distances


def reference_dtw(a, b):
    """The textbook recursion, one cell at a time (a: (F, T), b: (F, U))."""
    T, U = a.shape[1], b.shape[1]
    d = np.sqrt(((a[:, :, None] - b[:, None, :]) ** 2).sum(0))
    cost = np.full((T + 1, U + 1), np.inf)
    cost[0, 0] = 0.0
    for i in range(1, T + 1):
        for j in range(1, U + 1):
            cost[i, j] = d[i - 1, j - 1] + min(cost[i - 1, j], cost[i, j - 1], cost[i - 1, j - 1])
    return cost[T, U] / (T + U)


def test_distances_match_the_textbook_recursion():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((4, 5, 12)), rng.standard_normal((3, 5, 9))
    want = np.array([[reference_dtw(a, b) for b in B] for a in A])
    np.testing.assert_allclose(dtw_distances(A, B), want, rtol=1e-12)


def test_the_same_word_said_slower_in_places_is_nearer_than_another_word():
    t = np.linspace(0, 1, 32)
    word = np.stack([np.sin(2 * np.pi * (k + 1) * t) for k in range(6)])
    warped_t = t**1.6  # the same sounds, held longer at the start and hurried at the end
    slow = np.stack([np.sin(2 * np.pi * (k + 1) * warped_t) for k in range(6)])
    other = np.stack([np.cos(2 * np.pi * (k + 2) * t) for k in range(6)])
    d = dtw_distances(word[None], np.stack([slow, other]))[0]
    assert d[0] < 0.5 * d[1]
    # a straight frame-by-frame comparison does much worse on the warped copy than the alignment
    assert np.sqrt(((word - slow) ** 2).sum(0)).mean() > 2 * d[0]


def test_templates_pull_towards_the_nearest_take_and_refuse_nonsense_on_load():
    rng = np.random.default_rng(1)
    takes = rng.standard_normal((4, 3 * 8)).astype(np.float32)
    tm = Templates.fit(takes, np.array([0, 1, 2, 3]), frames=8)
    clip = takes[2] + 0.05 * rng.standard_normal(24).astype(np.float32)
    even = np.full((1, 4), 0.25)
    assert tm.blend(even, clip[None]).argmax() == 2  # an undecided model: the take it sounds like decides
    sure = np.array([[0.97, 0.01, 0.01, 0.01]])
    assert tm.blend(sure, rng.standard_normal((1, 24)) * 10).argmax() == 0  # far from every take: the model's
    config, arrays = tm.to_state()
    back = Templates.from_state(config, arrays, n_features=24, n_classes=4)
    np.testing.assert_array_equal(back.X, tm.X)
    with pytest.raises(ValueError, match="classes"):
        Templates.from_state(config, arrays, n_features=24, n_classes=3)
    with pytest.raises(ValueError, match="features"):
        Templates.from_state(config, arrays, n_features=30, n_classes=4)
    assert Templates.fit(takes[:2], np.array([1, 1]), frames=8) is None  # one class: nothing to compare
