"""Replay: the torch sum-tree against a plain numpy reference, prioritized sampling against
p^alpha / sum p^alpha (chi-square), importance weights, and the n-step window by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from ploutos.algos.replay import (
    NStepWindow,
    PrioritizedReplay,
    ReplayBuffer,
    SumTree,
    Transitions,
)
from ploutos.obs.compact import CompactObs


def _transitions(k: int, offset: int = 0, p: int = 3, a: int = 2) -> Transitions:
    ids = torch.arange(offset, offset + k)
    return Transitions(
        CompactObs(ids, ids.float().unsqueeze(1).expand(k, p).clone()),
        (ids % 3).unsqueeze(1).expand(k, a).clone(),
        ids.float() * 0.5,
        torch.full((k,), 0.9),
        CompactObs(ids + 1, -ids.float().unsqueeze(1).expand(k, p).clone()),
    )


def _fields(t: Transitions) -> list[torch.Tensor]:
    return [t.obs.day, t.obs.portfolio, t.actions, t.returns, t.discounts, t.next_obs.day,
            t.next_obs.portfolio]  # fmt: skip


@pytest.mark.parametrize("fanout", [2, 3, 32])
@pytest.mark.parametrize("capacity", [1, 5, 8, 37, 1000])
def test_sum_tree_matches_numpy_prefix_sums_through_updates(capacity, fanout):
    rng = np.random.default_rng(capacity)
    tree = SumTree(capacity, "cpu", fanout=fanout)
    ref = np.zeros(capacity)
    for _ in range(6):
        slots = rng.integers(0, capacity, size=4)
        values = rng.uniform(0.1, 3.0, size=4)
        # Duplicate slots in one update carry one value (as a sampled batch's do).
        for s in np.unique(slots):
            values[slots == s] = values[slots == s][0]
        ref[slots] = values
        tree.update(torch.from_numpy(slots), torch.from_numpy(values))
        assert float(tree.total) == pytest.approx(ref.sum(), rel=1e-12)
        assert np.allclose(tree.leaves(torch.arange(capacity)).numpy(), ref)
        # Prefix-sum search: the slot i with cumsum[i - 1] <= mass < cumsum[i].
        mass = rng.uniform(0.0, ref.sum(), size=50)
        expected = np.searchsorted(np.cumsum(ref), mass, side="right")
        assert np.array_equal(tree.find(torch.from_numpy(mass)).numpy(), expected)
    rebuilt = SumTree(capacity, "cpu", fanout=fanout)
    rebuilt.rebuild(torch.from_numpy(ref))
    assert torch.equal(rebuilt.tree, tree.tree)  # incremental sums equal a rebuild, bit for bit


@pytest.mark.parametrize("fanout", [2, 32])
def test_find_skips_zero_priority_slots_at_boundaries(fanout):
    tree = SumTree(8, "cpu", fanout=fanout)
    tree.update(torch.tensor([1, 2, 5]), torch.tensor([1.0, 2.0, 4.0]))
    got = tree.find(torch.tensor([0.0, 0.999, 1.0, 2.999, 3.0, 6.9999999]))
    assert got.tolist() == [1, 1, 2, 2, 5, 5]
    # Mass at (or, by rounding, past) the total lands on the last non-empty slot.
    assert tree.find(torch.tensor([7.0, 7.0 + 1e-12])).tolist() == [5, 5]


def test_wide_tree_finds_what_a_binary_tree_finds():
    # A million slots, half of them empty in runs: 4 levels at fan-out 32, 20 at fan-out 2.
    rng = np.random.default_rng(4)
    values = rng.uniform(0.0, 2.0, size=1_000_000) * (rng.uniform(size=1_000_000) < 0.5)
    values[100_000:300_000] = 0.0
    wide, binary = SumTree(1_000_000, "cpu"), SumTree(1_000_000, "cpu", fanout=2)
    assert len(wide.levels) == 5 and len(binary.levels) == 21
    for tree in (wide, binary):
        tree.rebuild(torch.from_numpy(values))
    assert float(wide.total) == pytest.approx(values.sum(), rel=1e-12)
    mass = torch.from_numpy(rng.uniform(0.0, values.sum(), size=20_000))
    slots = wide.find(mass)
    assert torch.equal(slots, binary.find(mass))
    assert bool((wide.leaves(slots) > 0).all())


def test_prioritized_sampling_frequencies_match_p_alpha():
    torch.manual_seed(0)
    alpha, n = 0.6, 10
    replay = PrioritizedReplay(16, 3, (2,), torch.int8, "cpu", alpha=alpha, eps=1e-6)
    replay.add(_transitions(n))
    td = torch.tensor([0.1, 0.5, 1.0, 2.0, 4.0, 0.01, 3.0, 0.2, 1.5, 0.7])
    replay.update_priorities(torch.arange(n), td)
    draws = torch.cat([replay.sample(1000, beta=0.4)[1] for _ in range(100)])  # 1e5 draws
    counts = np.bincount(draws.numpy(), minlength=n)
    p = (td.double() + 1e-6) ** alpha
    expected = (p / p.sum()).numpy() * draws.numel()
    assert stats.chisquare(counts, expected).pvalue > 0.001
    assert counts.sum() == 100_000


def test_importance_weights_peak_at_one_and_follow_beta():
    torch.manual_seed(1)
    replay = PrioritizedReplay(8, 3, (2,), torch.int8, "cpu", alpha=1.0, eps=0.0)
    replay.add(_transitions(4))
    replay.update_priorities(torch.arange(4), torch.tensor([1.0, 2.0, 3.0, 4.0]))
    _, slots, weights = replay.sample(64, beta=0.5)
    assert float(weights.max()) == 1.0
    probs = (slots.double() + 1.0) / 10.0
    raw = (4 * probs) ** -0.5
    assert torch.allclose(weights.double(), raw / raw.max(), rtol=1e-6)


def test_priorities_update_in_place_and_new_transitions_enter_at_the_max():
    replay = PrioritizedReplay(8, 3, (2,), torch.int8, "cpu", alpha=1.0, eps=0.0)
    replay.add(_transitions(3))
    assert replay.tree.leaves(torch.arange(3)).tolist() == [1.0, 1.0, 1.0]
    replay.update_priorities(torch.tensor([0, 2]), torch.tensor([5.0, 0.25]))
    assert replay.tree.leaves(torch.arange(3)).tolist() == [5.0, 1.0, 0.25]
    assert float(replay.tree.total) == 6.25
    replay.add(_transitions(2, offset=3))
    assert replay.tree.leaves(torch.arange(5)).tolist() == [5.0, 1.0, 0.25, 5.0, 5.0]


@pytest.mark.parametrize("kind", [ReplayBuffer, PrioritizedReplay])
def test_buffers_return_what_they_stored_and_wrap(kind):
    torch.manual_seed(2)
    replay = kind(6, 3, (2,), torch.int8, "cpu")
    replay.add(_transitions(4))
    replay.add(_transitions(4, offset=4))  # ids 6, 7 overwrite slots 0, 1
    assert len(replay) == 6 and replay.pos == 2
    batch, slots, weights = replay.sample(32)
    ids = batch.obs.day
    assert set(ids.tolist()) <= {2, 3, 4, 5, 6, 7}
    assert torch.equal(slots, torch.where(ids >= 6, ids - 6, ids))
    assert torch.equal(batch.obs.portfolio[:, 0], ids.float())
    assert torch.equal(batch.actions.long(), (ids % 3).unsqueeze(1).expand(-1, 2))
    assert torch.equal(batch.returns, ids.float() * 0.5)
    assert torch.equal(batch.next_obs.day, ids + 1)
    assert torch.equal(batch.next_obs.portfolio[:, 2], -ids.float())
    if kind is ReplayBuffer:
        assert torch.equal(weights, torch.ones(32))


@pytest.mark.parametrize("kind", [ReplayBuffer, PrioritizedReplay])
def test_state_dict_round_trip_samples_the_same_batches(kind):
    replay = kind(16, 3, (2,), torch.int8, "cpu")
    replay.add(_transitions(10))
    replay.update_priorities(torch.arange(10), torch.linspace(0.1, 2.0, 10))
    state = replay.state_dict()
    assert all(isinstance(v, torch.Tensor | int) for v in state.values())
    copy = kind(16, 3, (2,), torch.int8, "cpu")
    copy.load_state_dict(state)
    torch.manual_seed(3)
    a = replay.sample(20, beta=0.7)
    torch.manual_seed(3)
    b = copy.sample(20, beta=0.7)
    assert torch.equal(a[1], b[1]) and torch.equal(a[2], b[2])
    if kind is PrioritizedReplay:
        assert torch.equal(replay.tree.tree, copy.tree.tree)


def test_one_step_window_gives_each_step_at_once_as_the_general_sums_would():
    gamma, window = 0.99, NStepWindow(1, 0.99)
    obs = CompactObs(torch.tensor([3, 4, 5]), torch.arange(6.0).view(3, 2))
    final = CompactObs(torch.tensor([4, 5, 6]), -torch.arange(6.0).view(3, 2))
    actions = torch.tensor([[0], [1], [2]])
    rewards = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    terminated, truncated = torch.tensor([False, True, False]), torch.tensor([False, False, True])
    out = window.push(obs, actions, rewards, terminated, truncated, final)
    assert window.state_dict() == {}  # nothing waits in a one-step window
    assert torch.equal(out.returns, rewards.float())
    # gamma^1 unless terminated; a truncated step bootstraps.
    assert torch.equal(out.discounts, torch.tensor([gamma, 0.0, gamma], dtype=torch.float32))
    assert torch.equal(out.next_obs.day, final.day) and torch.equal(out.obs.day, obs.day)
    # The general window's sums over a window of one step, bit for bit.
    window.steps = [
        {"day": obs.day, "portfolio": obs.portfolio, "actions": actions,
         "rewards": rewards.float(), "terminated": terminated, "done": terminated | truncated,
         "next_day": final.day, "next_portfolio": final.portfolio}
    ]  # fmt: skip
    general = window._oldest()
    assert all(torch.equal(a, b) for a, b in zip(_fields(out), _fields(general), strict=True))


def test_n_step_window_sums_to_the_first_episode_end_by_hand():
    gamma = 0.9
    window = NStepWindow(3, gamma)
    n_envs = 3
    # env 0: no end; env 1: terminated at the 2nd step; env 2: truncated at the 1st step.
    rewards = [torch.tensor([1.0, 1.0, 2.0]), torch.tensor([2.0, 3.0, 5.0]),
               torch.tensor([4.0, 7.0, 9.0])]  # fmt: skip
    terminated = [torch.tensor([False, False, False]), torch.tensor([False, True, False]),
                  torch.tensor([False, False, False])]  # fmt: skip
    truncated = [torch.tensor([False, False, True]), torch.tensor([False, False, False]),
                 torch.tensor([False, False, False])]  # fmt: skip
    out = None
    for t in range(3):
        obs = CompactObs(torch.full((n_envs,), 10 + t), torch.full((n_envs, 2), float(t)))
        final = CompactObs(torch.full((n_envs,), 11 + t), torch.full((n_envs, 2), t + 0.5))
        actions = torch.full((n_envs, 1), t)
        out = window.push(obs, actions, rewards[t], terminated[t], truncated[t], final)
        assert (out is None) == (t < 2)
    assert torch.allclose(out.returns, torch.tensor([1 + 0.9 * 2 + 0.81 * 4, 1 + 0.9 * 3, 2.0]))
    assert torch.allclose(out.discounts, torch.tensor([0.9**3, 0.0, 0.9]))
    assert out.next_obs.day.tolist() == [13, 12, 11]
    assert out.next_obs.portfolio[:, 0].tolist() == [2.5, 1.5, 0.5]
    assert out.obs.day.tolist() == [10, 10, 10] and out.actions[:, 0].tolist() == [0, 0, 0]
    state = window.state_dict()
    again = NStepWindow(3, gamma)
    again.load_state_dict(state, torch.device("cpu"))
    assert len(again.steps) == 2 and torch.equal(again.steps[0]["day"], window.steps[0]["day"])
