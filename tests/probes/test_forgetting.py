"""Example forgetting (Toneva et al. 2019): ``ForgettingTracker`` against hand-counted sequences, a brute-force
re-implementation of the reference code's bookkeeping (a dict of per-presentation lists per example), and a tiny
logistic regression whose mislabeled point is forgotten more often than the clean ones; and its Monitor probe."""

import doctest

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from phenomena.errors import UserError
from phenomena.monitor import Monitor
from phenomena.monitor.probes import forgetting
from phenomena.probes import forgetting as forgetting_module
from phenomena.probes.forgetting import ForgettingTracker, rank_by_forgetting

# --- hand-counted sequences ----------------------------------------------------------------------------------

# correctness per presentation, example -> sequence; example 4 is never presented
SEQUENCES = {
    0: [1, 0, 1, 0],  # forgotten twice, learned again once
    1: [0, 0, 1, 1],  # learned at presentation 2, never forgotten: unforgettable
    2: [0, 0, 0],  # never learned
    3: [1, 1, 1],  # unforgettable from the start
    5: [0, 1, 0, 1, 1, 0],  # forgotten twice (presentations 2 and 5), learned twice
}
# by hand: forgetting, learning, first learned, presentations to learn (one past the last incorrect one)
HAND = {
    0: (2, 1, 0, 4),
    1: (0, 1, 2, 2),
    2: (0, 0, -1, 3),
    3: (0, 0, 0, 0),
    4: (0, 0, -1, 0),
    5: (2, 2, 1, 6),
}


def feed_sequences(tracker, sequences, batch_order):
    """Present examples step by step: at each step the examples listed, each with its next correctness."""
    cursor = {k: 0 for k in sequences}
    for step in batch_order:
        correct = []
        for k in step:
            correct.append(bool(sequences[k][cursor[k]]))
            cursor[k] += 1
        tracker.record(torch.tensor(step), torch.tensor(correct))
    assert all(cursor[k] == len(s) for k, s in sequences.items())


BATCHES = [[0, 1, 2, 3, 5], [5, 1], [0, 2, 5], [3, 1, 0], [5, 3], [2, 5, 0, 1], [5]]


def test_hand_counted_sequences():
    t = ForgettingTracker(6)
    feed_sequences(t, SEQUENCES, BATCHES)
    for k, (forgot, learned, first, to_learn) in HAND.items():
        assert t.forgetting_events[k] == forgot, k
        assert t.learning_events[k] == learned, k
        assert t.first_learned[k] == first, k
        assert t.presentations_to_learn[k] == to_learn, k
    assert t.presentations.tolist() == [4, 4, 3, 3, 0, 6]
    assert t.correct_presentations.tolist() == [2, 2, 0, 3, 0, 3]
    assert t.never_learned.tolist() == [False, False, True, False, False, False]
    assert t.unforgettable.tolist() == [False, True, False, True, False, False]
    assert t.forgotten.tolist() == [True, False, False, False, False, True]
    # never learned scores the largest presentation count (6, example 5's); example 4 is left out
    order, scores = t.ranking()
    assert order.tolist() == [1, 3, 0, 5, 2]
    assert scores.tolist() == [0.0, 0.0, 2.0, 2.0, 6.0]
    assert t.histogram().tolist() == [2, 0, 2]
    assert t.summary() == {
        "presented": 5.0,
        "unforgettable": 2 / 5,
        "forgotten": 2 / 5,
        "never_learned": 1 / 5,
        "forgetting_events": 4.0,
        "mean_forgetting": 1.0,
    }


def test_update_reads_correctness_from_logits_before_the_step():
    t = ForgettingTracker(3)
    y = torch.tensor([2, 0, 1])
    # presentation 1: correct, correct (tie 0 vs 0: the first maximal class, 0), wrong
    assert t.update(
        torch.arange(3), torch.tensor([[0.0, 1.0, 3.0], [0.0, 0.0, -1.0], [5.0, 1.0, 0.0]]), y
    ).tolist() == [
        True,
        True,
        False,
    ]
    # presentation 2: wrong, wrong, correct
    t.update(torch.arange(3), torch.tensor([[4.0, 1.0, 3.0], [0.0, 2.0, -1.0], [0.0, 1.0, 0.0]]), y)
    assert t.forgetting_events.tolist() == [1, 1, 0]
    assert t.learning_events.tolist() == [0, 0, 1]
    # binary logits, (B,) and (B, 1): positive predicts class 1
    b = ForgettingTracker(2)
    b.update(torch.tensor([0, 1]), torch.tensor([0.5, 0.5]), torch.tensor([1, 0]))
    b.update(torch.tensor([0, 1]), torch.tensor([[-0.5], [-0.5]]), torch.tensor([1, 0]))
    assert b.forgetting_events.tolist() == [1, 0] and b.learning_events.tolist() == [0, 1]


def test_repeated_indices_in_one_call_are_successive_presentations():
    a, b = ForgettingTracker(3), ForgettingTracker(3)
    idx, ok = [2, 0, 2, 2, 0], [True, False, False, True, True]
    a.record(torch.tensor(idx), torch.tensor(ok))
    for i, c in zip(idx, ok, strict=True):
        b.record(torch.tensor([i]), torch.tensor([c]))
    for k, v in a.state_dict().items():
        assert torch.equal(torch.as_tensor(v), torch.as_tensor(b.state_dict()[k])), k
    assert a.forgetting_events.tolist() == [0, 0, 1]


# --- brute force: the reference code's bookkeeping -----------------------------------------------------------


def brute_force(history, n):
    """Toneva's compute_forgetting_statistics on a dict example -> list of per-presentation accuracies."""
    out = {}
    for k in range(n):
        acc = np.array(history.get(k, []), dtype=int)
        tr = acc[1:] - acc[:-1]
        out[k] = {
            "presentations": len(acc),
            "forgetting": int((tr == -1).sum()),
            "learning": int((tr == 1).sum()),
            "first": int(np.where(acc == 1)[0][0]) if (acc == 1).any() else -1,
            "to_learn": int(np.where(acc == 0)[0][-1]) + 1 if (acc == 0).any() else 0,
        }
    return out


def toneva_sort(runs, n, npresentations):
    """Toneva's sort_examples_by_forgetting, ties by index (np.argsort(kind='stable'))."""
    ids = [k for k in range(n) if runs[0][k]["presentations"]]
    stats = [sum(npresentations if r[k]["first"] < 0 else r[k]["forgetting"] for r in runs) for k in ids]
    order = np.argsort(stats, kind="stable")
    return [ids[i] for i in order], sorted(stats)


@pytest.mark.parametrize("replacement", [False, True])
def test_matches_a_brute_force_reimplementation(replacement):
    n, g = 37, torch.Generator().manual_seed(5)
    tracker, history = ForgettingTracker(n), {}
    p_correct = torch.rand(n, generator=g)  # some examples mostly right, some mostly wrong
    for _ in range(300):
        size = int(torch.randint(1, 12, (1,), generator=g))
        # with replacement: repeated indices within a step, and the last 3 examples never drawn
        idx = torch.randint(0, n - 3, (size,), generator=g) if replacement else torch.randperm(n, generator=g)[:size]
        correct = torch.rand(size, generator=g) < p_correct[idx]
        tracker.record(idx, correct)
        for i, c in zip(idx.tolist(), correct.tolist(), strict=True):
            history.setdefault(i, []).append(int(c))
    ref = brute_force(history, n)
    assert tracker.presentations.tolist() == [ref[k]["presentations"] for k in range(n)]
    assert tracker.forgetting_events.tolist() == [ref[k]["forgetting"] for k in range(n)]
    assert tracker.learning_events.tolist() == [ref[k]["learning"] for k in range(n)]
    assert tracker.first_learned.tolist() == [ref[k]["first"] for k in range(n)]
    assert tracker.presentations_to_learn.tolist() == [ref[k]["to_learn"] for k in range(n)]
    assert tracker.correct_presentations.tolist() == [sum(history.get(k, [])) for k in range(n)]
    presented = [k for k in range(n) if k in history]
    never = {k for k in presented if ref[k]["first"] < 0}
    unforgettable = {k for k in presented if ref[k]["first"] >= 0 and ref[k]["forgetting"] == 0}
    assert set(torch.nonzero(tracker.never_learned).flatten().tolist()) == never
    assert set(torch.nonzero(tracker.unforgettable).flatten().tolist()) == unforgettable
    assert tracker.summary()["unforgettable"] == len(unforgettable) / len(presented)
    hist = np.bincount([ref[k]["forgetting"] for k in presented if k not in never])
    assert tracker.histogram().tolist() == hist.tolist()
    if not replacement:  # every example presented: Toneva's sort with npresentations = the largest count
        order, scores = tracker.ranking()
        expected, stats = toneva_sort([ref], n, max(len(h) for h in history.values()))
        assert order.tolist() == expected and scores.tolist() == stats


def test_ranking_over_runs_matches_the_reference_sort():
    n, epochs, bs = 23, 9, 5
    runs, refs = [], []
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        p_correct = torch.rand(n, generator=g) ** 3  # many never-learned examples
        t, history = ForgettingTracker(n), {}
        for _ in range(epochs):  # Toneva's loop: a permutation per epoch, one presentation each
            perm = torch.randperm(n, generator=g)
            for i in range(0, n, bs):
                idx = perm[i : i + bs]
                correct = torch.rand(len(idx), generator=g) < p_correct[idx]
                t.record(idx, correct)
                for k, c in zip(idx.tolist(), correct.tolist(), strict=True):
                    history.setdefault(k, []).append(int(c))
        runs.append(t)
        refs.append(brute_force(history, n))
    order, scores = rank_by_forgetting(runs)
    expected, stats = toneva_sort(refs, n, epochs)
    assert order.tolist() == expected and scores.tolist() == stats
    assert any(r[k]["first"] < 0 for r in refs for k in range(n))  # the never-learned rule was exercised


# --- a real training loop -------------------------------------------------------------------------------------

X = torch.tensor(
    [[-3.0, -1.0], [-2.0, 0.5], [-1.5, -0.5], [-2.5, 1.0], [1.5, 0.0], [2.0, 1.0], [3.0, -0.5], [2.5, 0.5], [1.0, 0.2]],
    dtype=torch.float64,
)
CLEAN = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 1])
NOISY = 8  # lies among class 1: its label is flipped to 0


def train_logistic(labels, tracker=None, probe=None, pass_logits=True, epochs=40, bs=2, lr=1.0):
    """Logistic regression by minibatch SGD; with a probe, a Monitor (every step) runs it before each update."""
    model = nn.Linear(2, 1).to(torch.float64)
    nn.init.zeros_(model.weight), nn.init.zeros_(model.bias)
    monitor = None if probe is None else Monitor(model, {"forgetting": probe}, every=1)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    step = 0
    for _ in range(epochs):
        perm = torch.randperm(len(labels), generator=g)
        for i in range(0, len(labels), bs):
            idx = perm[i : i + bs]
            logits = model(X[idx]).squeeze(1)
            if tracker is not None:
                tracker.update(idx, logits, labels[idx])
            if monitor is not None:  # before the optimizer step
                ctx = {"logits": logits} if pass_logits else {}
                monitor.step(step, (X[idx], labels[idx]), indices=idx, **ctx)
            loss = F.binary_cross_entropy_with_logits(logits, labels[idx].double())
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    return monitor


def test_mislabeled_point_is_forgotten_more_often_than_clean_ones():
    noisy = CLEAN.clone()
    noisy[NOISY] = 0
    t = ForgettingTracker(len(noisy))
    train_logistic(noisy, t)
    events = t.forgetting_events
    clean = torch.arange(len(noisy)) != NOISY
    assert events[NOISY] >= 3 and events[NOISY] > events[clean].max()
    assert t.ranking()[0][-1] == NOISY  # the most forgettable example
    again = ForgettingTracker(len(noisy))
    train_logistic(noisy, again)
    assert all(
        torch.equal(torch.as_tensor(v), torch.as_tensor(again.state_dict()[k])) for k, v in t.state_dict().items()
    )
    # control: with its true label the same point is never forgotten
    control = ForgettingTracker(len(CLEAN))
    train_logistic(CLEAN, control)
    assert control.forgetting_events[NOISY] == 0


@pytest.mark.parametrize("pass_logits", [True, False])
def test_monitor_probe_equals_the_tracker_in_the_loop(pass_logits):
    noisy = CLEAN.clone()
    noisy[NOISY] = 0
    direct = ForgettingTracker(len(noisy))
    probe = forgetting(len(noisy))
    monitor = train_logistic(noisy, direct, probe, pass_logits=pass_logits)
    for k, v in direct.state_dict().items():
        assert torch.equal(torch.as_tensor(v), torch.as_tensor(probe.tracker.state_dict()[k])), k
    steps, values = monitor.curve("forgetting.unforgettable")
    assert values[-1] == direct.summary()["unforgettable"] and len(steps) == 40 * 5


def test_monitor_probe_refuses_missing_indices_and_skipped_steps():
    model, x, y = nn.Linear(2, 1).double(), X[:2], CLEAN[:2]
    with pytest.raises(UserError, match="indices"):
        Monitor(model, {"f": forgetting(9)}, every=1).step(0, (x, y))
    monitor = Monitor(model, {"f": forgetting(9)}, every=2)
    monitor.step(0, (x, y), indices=torch.tensor([0, 1]))
    with pytest.raises(UserError, match="every=1"):
        monitor.step(2, (x, y), indices=torch.tensor([0, 1]))


# --- state, errors, docs ----------------------------------------------------------------------------------------


def test_state_dict_round_trip_continues_identically():
    a = ForgettingTracker(6)
    feed_sequences(a, {k: s[:2] for k, s in SEQUENCES.items()}, [[0, 1, 2, 3, 5], [5, 1, 0, 2, 3]])
    b = ForgettingTracker(6)
    b.load_state_dict(a.state_dict())
    for t in (a, b):
        t.record(torch.tensor([0, 5, 3]), torch.tensor([False, True, False]))
    for k, v in a.state_dict().items():
        assert torch.equal(torch.as_tensor(v), torch.as_tensor(b.state_dict()[k])), k
    with pytest.raises(UserError, match="num_examples=7"):
        b.load_state_dict({**ForgettingTracker(7).state_dict()})
    with pytest.raises(UserError, match="state_dict"):
        b.load_state_dict({"presentations": torch.zeros(6)})


def test_clear_errors():
    t = ForgettingTracker(4)
    logits, y = torch.zeros(2, 3), torch.tensor([0, 1])
    with pytest.raises(UserError, match="index 4 is out of range"):
        t.update(torch.tensor([0, 4]), logits, y)
    with pytest.raises(UserError, match="index -1 is out of range"):
        t.update(torch.tensor([-1, 2]), logits, y)
    with pytest.raises(UserError, match="indices must be a 1-D integer"):
        t.update(torch.tensor([0.0, 1.0]), logits, y)
    with pytest.raises(UserError, match="3 rows but targets have 2"):
        t.update(torch.tensor([0, 1]), torch.zeros(3, 3), y)
    with pytest.raises(UserError, match="one entry per index"):
        t.update(torch.tensor([0, 1, 2]), logits, y)
    with pytest.raises(UserError, match="target 3 is out of range"):
        t.update(torch.tensor([0, 1]), logits, torch.tensor([0, 3]))
    with pytest.raises(UserError, match="logits must"):
        t.update(torch.tensor([0, 1]), torch.zeros(2, 3, 1), y)
    with pytest.raises(UserError, match="num_examples"):
        ForgettingTracker(0)
    with pytest.raises(UserError, match="different num_examples"):
        rank_by_forgetting([ForgettingTracker(3), ForgettingTracker(4)])
    a, b = ForgettingTracker(3), ForgettingTracker(3)
    a.record(torch.tensor([0, 1]), torch.tensor([True, True]))
    b.record(torch.tensor([0]), torch.tensor([True]))
    with pytest.raises(UserError, match="example 1 was presented in some runs"):
        rank_by_forgetting([a, b])
    assert t.presentations.sum() == 0  # nothing was recorded by a refused call


def test_docstring_examples_run():
    result = doctest.testmod(forgetting_module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 8 and result.failed == 0
