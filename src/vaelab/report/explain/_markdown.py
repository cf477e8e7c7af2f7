"""The explainer as a static report: markdown plus PNG figures, for printing or slides."""

from __future__ import annotations

from pathlib import Path

from vaelab.report.explain._schema import ExplainReport
from vaelab.report.explain._sections import build_sections, used_terms
from vaelab.report.explain._write import write_files


def markdown_files(report: ExplainReport) -> dict[str, bytes]:
    """The markdown report and its PNG figures, in memory: relative path to content.

    Parameters
    ----------
    report : ExplainReport
        From `vaelab.report.explain.run_explain`.

    Returns
    -------
    dict of str to bytes
        ``"explain.md"`` and ``"figures/<name>.png"`` files.
    """
    d = report.data
    files: dict[str, bytes] = {}
    lines = [
        "# Why variational autoencoders? Measured on your data",
        "",
        f"Data: {d.name}, {d.n_train} training and {d.n_test} test samples. Numbers: explain.json.",
        "",
    ]
    sections = build_sections(report)
    lines += ["## Words used on this page", ""]
    lines += [f"- **{t.name}**: {t.definition}" for t in used_terms(sections)]
    lines.append("")
    for s in sections:
        lines += [f"## {s.title}", "", *[p + "\n" for p in s.plain]]
        for fig in s.figures:
            fig_lines, fig_files = fig.markdown()
            lines += fig_lines
            files.update(fig_files)
        if s.measure:
            lines += ["**Measured in this run.** " + " ".join(s.measure), ""]
        lines += [f"**Measurement unavailable.** {m}." for m in s.missing]
        lines += [f"$$ {f} $$\n" for f in s.formulas]
    files["explain.md"] = "\n".join(lines).encode("utf-8")
    return files


def render_markdown(report: ExplainReport, out_dir: str | Path) -> Path:
    """Write ``explain.md`` and its PNG figures into ``out_dir``.

    Each file is written atomically; on failure the files and folders this call
    created are removed again, and nothing else in ``out_dir`` is touched.

    Parameters
    ----------
    report : ExplainReport
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
