"""matplotlib for the benchmarks' PNG plots, imported only when a plot is drawn.

matplotlib belongs to the ``bench`` extra, not to bytepiece's runtime; the Agg
backend draws to files without a display.
"""

from __future__ import annotations

from pathlib import Path

from _peers import Missing


def pyplot():
    """matplotlib.pyplot on the Agg backend, or Missing (the report then says why)."""
    try:
        import matplotlib
    except ImportError as e:
        return Missing(f"cannot import matplotlib ({e}); pip install -e '.[bench]'")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> None:
    """Write the figure to ``path`` (PNG) and free it."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


#: the same colour and marker for a system in every plot
STYLE = {
    "bytepiece": dict(color="tab:red", marker="o"),
    "bytepiece-unigram": dict(color="tab:red", marker="P", linestyle="--", markerfacecolor="white"),
    "reference": dict(color="tab:purple", marker="v"),
    "sp-unigram": dict(color="tab:blue", marker="s"),
    "sp-bpe": dict(color="tab:green", marker="^"),
    "hf-bpe": dict(color="tab:orange", marker="D"),
}
