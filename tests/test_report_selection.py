"""Which examples the report's gallery shows: checked on a hand-made set of predictions."""

from __future__ import annotations

import numpy as np

from dlcli.report.selection import choose_examples

# Six examples of two classes: (true class, probability of class 0).
EXAMPLES = [
    (0, 0.95),  # 0: right, sure
    (0, 0.55),  # 1: right, unsure
    (0, 0.10),  # 2: wrong (predicted 1), very sure
    (1, 0.60),  # 3: wrong (predicted 0), a little sure
    (1, 0.30),  # 4: right, fairly sure
    (1, 0.48),  # 5: right, the least sure of all
]


def _chosen(**kw: int) -> list[tuple[int, str]]:
    y = np.array([t for t, _ in EXAMPLES])
    p0 = np.array([p for _, p in EXAMPLES])
    probs = np.stack([p0, 1 - p0], axis=1)
    return [(c.index, c.group) for c in choose_examples(y, probs, **kw)]


def test_mistakes_most_sure_first_then_right_answers_least_sure_first() -> None:
    assert _chosen(top=1, per_cell=0) == [(2, "mistake"), (5, "unsure")]
    assert _chosen(top=2, per_cell=0) == [
        (2, "mistake"),
        (3, "mistake"),
        (5, "unsure"),
        (1, "unsure"),
    ]


def test_every_cell_gets_examples_up_to_its_limit() -> None:
    # top=1 shows 2 (cell 0->1) and 5 (cell 1->1); cells 0->0 and 1->0 get theirs as extras.
    got = _chosen(top=1, per_cell=1)
    assert got == [(2, "mistake"), (5, "unsure"), (3, "cell"), (1, "cell")]
    # Two per diagonal cell, in the order right answers are ranked (least sure first):
    # 0->0 gets 1, 1->1 (5 shown) gets 4, 0->0 gets 0.
    got = _chosen(top=1, per_cell=2, per_mistake_cell=1)
    assert got == [
        (2, "mistake"),
        (5, "unsure"),
        (3, "cell"),
        (1, "cell"),
        (4, "cell"),
        (0, "cell"),
    ]


def test_a_large_confusion_matrix_shows_the_most_confused_classes() -> None:
    from dlcli.report.page import confusion_view

    m = np.array(
        [
            [9, 0, 0, 1],  # class 0: 1 mistake out, 0 in
            [0, 5, 3, 0],  # class 1: 3 out, 2 in (from class 3)
            [0, 0, 7, 0],  # class 2: 0 out, 3 in
            [0, 2, 0, 8],  # class 3: 2 out, 1 in
        ]
    )
    view = confusion_view(m, limit=2)
    # Mistakes in and out: 1, 5, 3, 3. Class 1, then 2 (ties with 3: the lower index).
    assert view.shown == [1, 2] and view.total_classes == 4
    cell = view.rows[0][1]  # true 1, predicted 2
    assert (cell.true, cell.predicted, cell.count) == (1, 2, 3)
    assert cell.fraction == 3 / 8  # of all of class 1, not of the cells shown
    assert [[c.count for c in row] for row in confusion_view(m).rows] == m.tolist()
