"""Ensemble rules on hand-written member outputs: the vote (unanimous, split, ties to HOLD,
invariant to member order), the probability mixture against a hand mean, the weights of
best_val and weighted against scipy's softmax."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.special import softmax

from ploutos.ensemble.rules import (
    best_index,
    member_weights,
    mixture,
    vote,
    vote_shares,
    weights_to_logits,
)
from ploutos.env.types import BUY, HOLD, SELL


def test_vote_unanimous_split_and_ties() -> None:
    # 3 members x 1 env x 5 assets.
    members = torch.tensor(
        [
            [[BUY, SELL, BUY, BUY, HOLD]],
            [[BUY, SELL, SELL, SELL, SELL]],
            [[BUY, SELL, BUY, HOLD, SELL]],
        ]
    )
    # unanimous BUY, unanimous SELL, 2 BUY vs 1 SELL, one of each (tie), 2 SELL vs 1 HOLD.
    assert vote(members).tolist() == [[BUY, SELL, BUY, HOLD, SELL]]
    # Four members: 2 BUY vs 2 SELL is a tie (HOLD); 2 HOLD vs 1 BUY vs 1 SELL is a HOLD
    # plurality; 2 SELL vs 1 BUY vs 1 HOLD is SELL without a majority of all members.
    four = torch.tensor(
        [[[BUY, BUY, SELL]], [[SELL, HOLD, SELL]], [[BUY, SELL, BUY]], [[SELL, HOLD, HOLD]]]
    )
    assert vote(four).tolist() == [[HOLD, HOLD, SELL]]


@pytest.mark.parametrize("n_members", [1, 2, 4, 7])
def test_vote_is_the_strict_plurality_by_hand(n_members: int) -> None:
    gen = torch.Generator().manual_seed(n_members)
    actions = torch.randint(0, 3, (n_members, 64, 6), generator=gen)
    expected = vote(actions)
    # Per cell by hand: the strict plurality, else HOLD.
    for n, a in itertools.product(range(64), range(6)):
        counts = np.bincount(actions[:, n, a].numpy(), minlength=3)
        winners = np.flatnonzero(counts == counts.max())
        assert expected[n, a] == (winners[0] if len(winners) == 1 else HOLD)


def test_vote_never_depends_on_member_order() -> None:
    gen = torch.Generator().manual_seed(0)
    actions = torch.randint(0, 3, (4, 64, 6), generator=gen)
    expected = vote(actions)
    for order in itertools.permutations(range(4)):
        assert torch.equal(vote(actions[list(order)]), expected), order


def test_vote_shares_count_members() -> None:
    members = torch.tensor([[[BUY]], [[BUY]], [[SELL]], [[HOLD]]])
    torch.testing.assert_close(vote_shares(members), torch.tensor([[[0.25, 0.5, 0.25]]]))


def test_mixture_equals_the_hand_mean_and_identical_members_give_their_own_numbers() -> None:
    gen = torch.Generator().manual_seed(1)
    probs = torch.softmax(torch.randn(3, 8, 4, 3, generator=gen), dim=-1)
    manual = (probs[0] + probs[1] + probs[2]) / 3
    torch.testing.assert_close(mixture(probs, [1 / 3] * 3), manual, rtol=0, atol=1e-7)
    w = [0.5, 0.3, 0.2]
    weighted = 0.5 * probs[0].double() + 0.3 * probs[1].double() + 0.2 * probs[2].double()
    torch.testing.assert_close(mixture(probs, w), weighted.float(), rtol=0, atol=1e-7)
    same = probs[:1].expand(3, -1, -1, -1)
    assert torch.equal(mixture(same, [1 / 3] * 3), probs[0])
    for order in itertools.permutations(range(3)):
        mixed = mixture(probs[list(order)], [1 / 3] * 3)
        assert torch.equal(mixed.argmax(-1), manual.argmax(-1))


def test_target_weights_round_trip_through_logits() -> None:
    targets = torch.tensor([[0.5, 0.25, 0.25, 0.0], [0.1, 0.2, 0.3, 0.4]])
    logits = weights_to_logits(targets)
    assert torch.isfinite(logits).all()
    torch.testing.assert_close(torch.softmax(logits, -1), targets, rtol=0, atol=1e-7)
    # Unnormalized input is renormalized.
    torch.testing.assert_close(torch.softmax(weights_to_logits(2 * targets), -1), targets,
                               rtol=0, atol=1e-7)  # fmt: skip


def test_member_weights_per_rule() -> None:
    names = ["b", "a", "c"]
    assert member_weights("vote", None, names) == [1 / 3] * 3
    assert member_weights("mean_probs", None, names) == [1 / 3] * 3
    assert member_weights("best_val", [0.2, 1.5, -0.3], names) == [0.0, 1.0, 0.0]
    assert member_weights("best_val", [0.2, 1.5, -0.3], names, mode="min") == [0.0, 0.0, 1.0]
    scores = [0.2, 1.5, -0.3]
    for t in (0.5, 1.0, 4.0):
        got = member_weights("weighted", scores, names, temperature=t)
        np.testing.assert_allclose(got, softmax(np.array(scores) / t), rtol=1e-12)
    with pytest.raises(ValueError, match="best_val"):
        member_weights("best_val", None, names)


def test_best_index_breaks_ties_by_name_not_order() -> None:
    assert best_index([1.0, 1.0, 0.5], ["z", "a", "m"]) == 1
    assert best_index([1.0, 0.5, 1.0], ["a", "m", "z"]) == 0
    assert best_index([1.0, 0.5, 1.0], ["z", "m", "a"]) == 2
