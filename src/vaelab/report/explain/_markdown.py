"""The explainer as a static report: markdown plus PNG figures, for printing or slides."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from vaelab.report.explain._text import build_sections
from vaelab.report.explain._write import write_files
from vaelab.report.figures.images import image_grid_figure


def _images(report: dict, key: str) -> np.ndarray:
    c, h, w = report["data"]["image_shape"]
    lo, hi = report["data"]["range"]
    x = report["arrays"][key].reshape(-1, c, h, w)[:, 0]
    return np.clip((x - lo) / ((hi - lo) or 1.0), 0.0, 1.0)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    return buf.getvalue()


def markdown_files(report: dict) -> dict[str, bytes]:
    """The markdown report and its PNG figures, in memory: relative path to content.

    Parameters
    ----------
    report : dict
        From `vaelab.report.explain.run_explain`.

    Returns
    -------
    dict of str to bytes
        ``"explain.md"`` and ``"figures/<name>.png"`` files.
    """
    from vaelab.experiments.curse import DistanceConcentration
    from vaelab.report.figures.curse import plot_contrast

    files: dict[str, bytes] = {}
    figs: dict[str, list[tuple[str, str]]] = {}
    conc = DistanceConcentration.from_dict(report["curse"]["concentration"])
    files["figures/curse_contrast.png"] = _png(plot_contrast({"uniform": conc}))
    figs["curse"] = [("figures/curse_contrast.png", "relative contrast against dimension")]
    grids = {"holes": [("holes_AE_prior", "Autoencoder: random prior codes decoded"),
                       ("holes_VAE_prior", "VAE: random prior codes decoded")],
             "generation": [("quantile_grid", "VAE decoder on a grid of prior quantiles"),
                            ("ae_grid", "Autoencoder decoder on the same grid")]}
    for sec, items in grids.items():
        for key, title in items:
            if key in report["arrays"]:
                cols = report.get("generation", {}).get("grid_size", 8) if "grid" in key else 8
                files[f"figures/{key}.png"] = _png(
                    image_grid_figure(_images(report, key), cols, title))
                figs.setdefault(sec, []).append((f"figures/{key}.png", title))
    sw = report["arrays"]["sweep_samples"]
    for i, row in enumerate(report["sweep"]["rows"]):
        rep_i = {"data": report["data"], "arrays": {"s": sw[i]}}
        files[f"figures/sweep_{i}.png"] = _png(
            image_grid_figure(_images(rep_i, "s"), 8, f"β = {row['beta']}: prior samples"))
        figs.setdefault("balance", []).append((f"figures/sweep_{i}.png", f"β = {row['beta']}"))
    lines = ["# Why variational autoencoders? Measured on your data", "",
             f"Data: {report['data']['name']}, {report['data']['n_train']} training and "
             f"{report['data']['n_test']} test samples. Numbers: explain.json.", ""]
    for s in build_sections(report):
        lines += [f"## {s.title}", "", *[p + "\n" for p in s.plain]]
        for path, alt in figs.get(s.id, []):
            lines += [f"![{alt}]({path})", ""]
        if s.id == "balance":
            lines += ["| β | rate (nats) | distortion (nats) | active units |", "|---|---|---|---|"]
            lines += [f"| {r['beta']} | {r['rate']:.3g} | {r['distortion']:.4g} | "
                      f"{r['active_units']} |" for r in report["sweep"]["rows"]]
            lines.append("")
        if s.measure:
            lines += ["**Measured in this run.** " + " ".join(s.measure), ""]
        lines += [f"**Measurement unavailable.** {m}." for m in s.missing]
        lines += [f"$$ {f} $$\n" for f in s.formulas]
    files["explain.md"] = "\n".join(lines).encode("utf-8")
    return files


def render_markdown(report: dict, out_dir: str | Path) -> Path:
    """Write ``explain.md`` and its PNG figures into ``out_dir``.

    Each file is written atomically; on failure the files and folders this call
    created are removed again, and nothing else in ``out_dir`` is touched.

    Parameters
    ----------
    report : dict
        From `vaelab.report.explain.run_explain`.
    out_dir : str or Path

    Returns
    -------
    Path
        The markdown file.
    """
    out = Path(out_dir)
    write_files(out, markdown_files(report))
    return out / "explain.md"
