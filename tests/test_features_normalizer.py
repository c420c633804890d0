"""AdaptiveNormalizer: train-only statistics, causal expanding mode, clipping, NaN handling,
degenerate features and the JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ploutos.errors import ConfigError
from ploutos.features.normalizer import AdaptiveNormalizer, expanding_stats

T, A, F = 240, 3, 4
TRAIN = slice(30, 150)


def make_values(seed: int = 0) -> np.ndarray:
    """[T, A, F] with a NaN warm-up, different locations/scales per feature, and outliers."""
    rng = np.random.default_rng(seed)
    values = rng.standard_t(4, size=(T, A, F)) * np.array([1.0, 0.01, 50.0, 3.0]) + np.array(
        [0.0, 0.2, -10.0, 5.0]
    )
    values[:20] = np.nan
    values[100, 0, 0] = 1e6
    return values.astype(np.float32)


def test_train_statistics_are_robust_z_scores_of_the_train_rows():
    values = make_values()
    norm = AdaptiveNormalizer("train", clip=5.0).fit(values, TRAIN)
    pooled = values[TRAIN].reshape(-1, F).astype(np.float64)
    q25, q50, q75 = np.quantile(pooled, [0.25, 0.5, 0.75], axis=0)
    np.testing.assert_allclose(norm.center, q50)
    np.testing.assert_allclose(norm.scale, (q75 - q25) / 1.349)
    out = norm.transform(values)
    expected = np.clip((values[50].astype(np.float64) - q50) / ((q75 - q25) / 1.349), -5, 5)
    np.testing.assert_allclose(out[50], expected, rtol=1e-6)
    # Robust: the 1e6 outlier neither moves the statistics much nor escapes the clip.
    assert out[100, 0, 0] == 5.0
    assert abs(norm.center[0]) < 0.2 and 0.5 < norm.scale[0] < 2.0


def test_train_statistics_do_not_move_when_val_and_test_change():
    values = make_values()
    state = AdaptiveNormalizer().fit(values, TRAIN).state_dict()
    changed = values.copy()
    changed[TRAIN.stop :] = np.random.default_rng(9).normal(1e3, 1e3, changed[TRAIN.stop :].shape)
    changed[: TRAIN.start] = -7.0  # warm-up rows before the split are not fitted on either
    assert AdaptiveNormalizer().fit(changed, TRAIN).state_dict() == state
    moved = values.copy()
    moved[TRAIN.stop - 1] += 100.0
    assert AdaptiveNormalizer().fit(moved, TRAIN).state_dict() != state


def test_output_is_finite_clipped_float32_and_warmup_is_zero():
    values = make_values()
    for mode in ("train", "expanding", "off"):
        out = AdaptiveNormalizer(mode, clip=3.0).fit(values, TRAIN).transform(values)
        assert out.dtype == np.float32 and out.shape == values.shape
        assert np.isfinite(out).all()
        assert np.abs(out).max() <= 3.0
        np.testing.assert_array_equal(out[:20], 0.0)


def test_constant_and_mostly_constant_features_are_handled():
    values = make_values()
    values[:, :, 1] = 0.25  # constant: nothing to scale
    values[20:, :, 2] = 0.0
    values[60, 1, 2] = 3.0  # IQR 0, std > 0: the std is used
    norm = AdaptiveNormalizer().fit(values, TRAIN)
    assert norm.scale[1] == 1.0
    assert norm.scale[2] == pytest.approx(values[TRAIN, :, 2].std())
    out = norm.transform(values)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[20:, :, 1], 0.0)


def test_state_dict_round_trips_through_json():
    values = make_values()
    norm = AdaptiveNormalizer("train", clip=4.0).fit(values, TRAIN)
    state = json.loads(json.dumps(norm.state_dict()))
    assert state["mode"] == "train" and state["clip"] == 4.0 and len(state["center"]) == F
    again = AdaptiveNormalizer.from_state_dict(state)
    np.testing.assert_array_equal(again.transform(values), norm.transform(values))
    expanding = AdaptiveNormalizer.from_state_dict(AdaptiveNormalizer("expanding").state_dict())
    assert expanding.mode == "expanding"


def test_expanding_mode_is_causal_and_matches_brute_force():
    values = make_values(seed=3)
    norm = AdaptiveNormalizer("expanding")
    out = norm.fit(values, TRAIN).transform(values)
    for t in (25, 90, 200):
        changed = values.copy()
        changed[t + 1 :] = np.random.default_rng(t).normal(50.0, 10.0, changed[t + 1 :].shape)
        np.testing.assert_array_equal(norm.transform(changed)[: t + 1], out[: t + 1])
        history = values[: t + 1].reshape(-1, F).astype(np.float64)
        q25, q50, q75 = np.nanquantile(history, [0.25, 0.5, 0.75], axis=0)
        expected = np.clip((values[t] - q50) / ((q75 - q25) / 1.349), -5, 5)
        np.testing.assert_allclose(out[t], expected, rtol=1e-5, atol=1e-6)


def test_expanding_stats_first_day_is_safe():
    center, scale = expanding_stats(np.ones((5, 2, 1)))
    np.testing.assert_array_equal(center, 1.0)
    np.testing.assert_array_equal(scale, 1.0)


def test_config_and_misuse_errors():
    assert AdaptiveNormalizer.from_config({"enabled": False, "mode": "train"}).mode == "off"
    norm = AdaptiveNormalizer.from_config({"enabled": True, "mode": "expanding", "clip": 2.5})
    assert (norm.mode, norm.clip) == ("expanding", 2.5)
    with pytest.raises(ConfigError, match=r"^features\.normalizer\.mode: "):
        AdaptiveNormalizer.from_config({"mode": "zscore"})
    with pytest.raises(ConfigError, match=r"^features\.normalizer\.clip: "):
        AdaptiveNormalizer.from_config({"clip": 0})
    with pytest.raises(RuntimeError, match="before fit"):
        AdaptiveNormalizer().transform(make_values())
    with pytest.raises(ConfigError, match="warm-up"):
        AdaptiveNormalizer().fit(make_values(), slice(0, 20))
