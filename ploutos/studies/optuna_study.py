"""The Optuna part of a study report: read from the study's storage, which outlives any one
multirun folder (a resumed study spans several).

A sweep folder written by `hydra/sweeper=ppo_search` holds optuna_study.json (study name and
storage). From the storage: every trial (state, values, parameters, run folder, where a pruned
one stopped), the best trial or, with several objectives, the Pareto front, the parameter
importances (Optuna's default evaluator, PED-ANOVA in Optuna 4 and later) and the
optimization history.
"""

from __future__ import annotations

import io
import math
import warnings
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd

HISTORY_PNG = "optuna_history.png"
PARETO_PNG = "optuna_pareto.png"


def _png(axes: Any) -> bytes:
    fig = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _names(record: dict[str, Any]) -> list[str]:
    return list(record.get("objectives") or record.get("metrics") or ["objective"])


def trials_frame(study: Any, names: list[str]) -> pd.DataFrame:
    """One row per trial: number, state, objective values, parameters, run folder, pruning."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        pruned = t.user_attrs.get("pruned") or {}
        values = t.values if t.values is not None else [math.nan] * len(names)
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name.lower(),
                **dict(zip(names, values, strict=True)),
                **{f"param {k}": v for k, v in t.params.items()},
                "n_evals_reported": len(t.intermediate_values),
                "pruned_at_eval": pruned.get("eval"),
                "pruned_at_env_steps": pruned.get("env_steps"),
                "run_dir": t.user_attrs.get("run_dir"),
            }
        )
    return pd.DataFrame(rows)


def _importances(study: Any, names: list[str]) -> dict[str, Any]:
    import optuna
    from optuna.study import StudyDirection

    out: dict[str, Any] = {}
    for i, name in enumerate(names):
        # One objective of several is a target, which the default evaluator (PED-ANOVA)
        # minimizes: a maximized objective is negated.
        sign = -1.0 if study.directions[i] == StudyDirection.MAXIMIZE else 1.0
        target = (lambda t, i=i, sign=sign: sign * t.values[i]) if len(names) > 1 else None
        try:
            with warnings.catch_warnings():
                # Its reminder that targets are minimized: the sign above sees to that.
                warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator computes")
                out[name] = optuna.importance.get_param_importances(study, target=target)
        except (RuntimeError, ValueError) as err:
            # Too few completed trials, or parameters that never varied.
            out[name] = {"not available": str(err)}
    return out


def study_section(record: dict[str, Any]) -> dict[str, Any]:
    """What the report says about the study `record` (optuna_study.json) points at, plus the
    plots as PNG bytes under "figures"."""
    import optuna
    from optuna.trial import TrialState

    from ploutos.sweeper.storage import open_storage

    names = _names(record)
    study = optuna.load_study(
        study_name=record["study_name"], storage=open_storage(record["storage"])
    )
    frame = trials_frame(study, names)
    states = frame["state"].value_counts().to_dict() if len(frame) else {}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    section: dict[str, Any] = {
        "study_name": record["study_name"],
        "storage": record["storage"],
        "objectives": names,
        "directions": [d.name.lower() for d in study.directions],
        "n_trials": len(frame),
        "n_complete": int(states.get("complete", 0)),
        "n_pruned": int(states.get("pruned", 0)),
        "n_failed": int(states.get("fail", 0)),
        "pruned_trials": frame[frame["state"] == "pruned"][
            ["trial", "pruned_at_eval", "pruned_at_env_steps", "run_dir"]
        ].to_dict("records")
        if len(frame)
        else [],
        "trials": frame,
        "figures": {},
    }
    if not complete:
        return section
    with warnings.catch_warnings():
        # Optuna marks its matplotlib plots experimental.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        plot = optuna.visualization.matplotlib
        if len(names) == 1:
            best = study.best_trial
            section["best_trial"] = {
                "trial": best.number,
                "value": best.value,
                "params": best.params,
                "run_dir": best.user_attrs.get("run_dir"),
                "overrides": best.user_attrs.get("overrides"),
            }
            section["figures"][HISTORY_PNG] = _png(plot.plot_optimization_history(study))
        else:
            section["pareto_front"] = [
                {"trial": t.number, **dict(zip(names, t.values, strict=True)), "params": t.params}
                for t in study.best_trials
            ]
            section["figures"][PARETO_PNG] = _png(plot.plot_pareto_front(study, target_names=names))
            section["figures"][HISTORY_PNG] = _png(
                plot.plot_optimization_history(
                    study, target=lambda t: t.values[0], target_name=names[0]
                )
            )
    section["importances"] = _importances(study, names)
    section["history"] = _history(frame, names[0], section["directions"][0])
    return section


def _history(frame: pd.DataFrame, name: str, direction: str) -> list[dict[str, Any]]:
    """Per finished trial in order: its first objective and the best so far (complete only)."""
    best = math.nan
    out = []
    for _, row in frame.sort_values("trial").iterrows():
        value = float(row[name])
        if row["state"] == "complete" and math.isfinite(value):
            better = value > best if direction == "maximize" else value < best
            best = value if math.isnan(best) or better else best
        out.append({"trial": int(row["trial"]), "state": row["state"], name: value, "best": best})
    return out


def markdown(section: dict[str, Any]) -> str:
    """The report's Optuna section."""
    lines = [
        f"## Optuna study `{section['study_name']}`",
        "",
        f"Storage `{section['storage']}`: {section['n_trials']} trial(s), "
        f"{section['n_complete']} complete, {section['n_pruned']} pruned, "
        f"{section['n_failed']} failed; objective(s) "
        + ", ".join(
            f"{n} ({d})" for n, d in zip(section["objectives"], section["directions"], strict=True)
        )
        + ".",
        "",
    ]
    best = section.get("best_trial")
    if best:
        lines += [
            f"Best trial: {best['trial']} with {best['value']:.4f}; parameters "
            + ", ".join(f"`{k}={v}`" for k, v in best["params"].items())
            + f"; run folder `{best['run_dir']}`.",
            "",
        ]
    if section.get("pareto_front"):
        lines += ["Pareto front:", "", "| trial | " + " | ".join(section["objectives"]) + " |"]
        lines.append("|---|" + "---|" * len(section["objectives"]))
        for point in section["pareto_front"]:
            cells = [f"{point[n]:.4f}" for n in section["objectives"]]
            lines.append(f"| {point['trial']} | " + " | ".join(cells) + " |")
        lines += ["", f"![Pareto front]({PARETO_PNG})", ""]
    for name, found in (section.get("importances") or {}).items():
        lines.append(
            f"Parameter importances for {name}: "
            + ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k}: {v}" for k, v in found.items()
            )
            + "."
        )
    if section["pruned_trials"]:
        lines += ["", "Pruned trials (they count in the deflated Sharpe's N):", ""]
        for p in section["pruned_trials"]:
            lines.append(
                f"- trial {p['trial']}: stopped after {int(p['pruned_at_eval']) + 1} "
                f"evaluation(s), {int(p['pruned_at_env_steps']):,} env steps, `{p['run_dir']}`"
            )
    if HISTORY_PNG in section["figures"]:
        lines += ["", f"![optimization history]({HISTORY_PNG})"]
    return "\n".join(lines) + "\n"
