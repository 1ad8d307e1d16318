"""PNG plots for the report (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from fiche_io.files import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> Path:
    with atomic_path(path, suffix=".png") as temporary:  # savefig reads the format from the suffix
        figure.savefig(temporary, dpi=110, bbox_inches="tight")
    return path


def bar_chart(values: Mapping[str, float | None], path: Path, *, title: str, ylabel: str,
              ylim: tuple[float, float] | None = (0.0, 1.0)) -> Path:
    """One bar per label; undefined values are drawn as an empty slot marked n/a."""
    plt = _pyplot()
    labels = list(values)
    heights = [values[label] or 0.0 for label in labels]
    figure, axes = plt.subplots(figsize=(max(4.0, 0.9 * len(labels) + 1.5), 3.6))
    bars = axes.bar(range(len(labels)), heights, color="#4a7ab5")
    for bar, label in zip(bars, labels):
        value = values[label]
        axes.annotate("n/a" if value is None else f"{value:.2f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                      ha="center", va="bottom", fontsize=8)
    axes.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    if ylim:
        axes.set_ylim(ylim[0], ylim[1] * 1.1)
    try:
        return _save(figure, path)
    finally:
        plt.close(figure)


def paired_bars(values: Mapping[str, tuple[float, float]], path: Path, *, labels: tuple[str, str], title: str,
                ylim: tuple[float, float] = (0.0, 1.0)) -> Path:
    """Two bars per name (e.g. run A and run B), side by side, names along the x axis."""
    plt = _pyplot()
    names = list(values)
    figure, axes = plt.subplots(figsize=(max(5.0, 0.7 * len(names) + 2), 4.2))
    width = 0.4
    for offset, label, color in ((-width / 2, labels[0], "#9aa7b8"), (width / 2, labels[1], "#4a7ab5")):
        side = 0 if label == labels[0] else 1
        axes.bar([k + offset for k in range(len(names))], [values[name][side] for name in names], width,
                 label=label, color=color)
    axes.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=7)
    axes.set_ylim(ylim[0], ylim[1] * 1.05)
    axes.set_title(title)
    axes.legend()
    try:
        return _save(figure, path)
    finally:
        plt.close(figure)


def histogram_figure(series: Mapping[str, Sequence[float]], *, title: str, xlabel: str, bins: int = 20):
    """The figure `histogram` saves: one or more named series (e.g. the H, W, D errors) on shared bins from 0.
    When every value is 0 there is no range to bin: one bin centred on 0, the only tick, and a note saying so."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 3.6))
    everything = [value for values in series.values() for value in values]
    top = max(everything) if everything else 0.0
    edges = [top * i / bins for i in range(bins + 1)] if top > 0 else [-0.5, 0.5]
    # Side by side within each bin, so that equal errors on several axes stay visible.
    axes.hist([list(values) for values in series.values()], bins=edges,
              label=[f"{name} (n={len(values)})" for name, values in series.items()])
    if top <= 0:
        axes.set_xticks([0.0], ["0"])
        axes.set_xlim(-1.5, 1.5)
        axes.set_ylim(0, max(1, max(len(values) for values in series.values())) * 1.3)  # room for the note
        axes.text(0.03, 0.95, f"all {len(everything)} values are exactly 0" if everything else "no values",
                  transform=axes.transAxes, ha="left", va="top")
    axes.set_xlabel(xlabel)
    axes.set_ylabel("count")
    axes.set_title(title)
    axes.legend(loc="upper right")
    return figure


def histogram(series: Mapping[str, Sequence[float]], path: Path, *, title: str, xlabel: str, bins: int = 20) -> Path:
    """Save `histogram_figure` as a PNG."""
    plt = _pyplot()
    figure = histogram_figure(series, title=title, xlabel=xlabel, bins=bins)
    try:
        return _save(figure, path)
    finally:
        plt.close(figure)


def loss_curve(rows: Sequence[Mapping], path: Path) -> Path:
    """Training loss (and eval loss where logged) against the optimizer step."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 3.6))
    positive = True
    for key, label in (("loss", "train loss"), ("eval_loss", "eval loss")):
        points = [(row["current_steps"], row[key]) for row in rows if row.get(key) is not None]
        if points:
            steps, losses = zip(*points)
            positive = positive and min(losses) > 0
            axes.plot(steps, losses, marker="o" if len(points) < 30 else None, markersize=3, label=label)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    if positive:
        axes.set_yscale("log")  # a fit to a few examples falls by orders of magnitude
    axes.set_title("Training loss (trainer_log.jsonl)")
    axes.legend()
    try:
        return _save(figure, path)
    finally:
        plt.close(figure)
