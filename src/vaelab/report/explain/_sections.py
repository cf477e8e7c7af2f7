"""The storyline: each section's words (`_text`) with its figures (`_figures`), in order."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from vaelab.report.explain import _figures as fig
from vaelab.report.explain import _text as txt
from vaelab.report.explain._predict import add_predictions
from vaelab.report.explain._schema import ExplainReport
from vaelab.report.explain._selfcheck import self_check_section
from vaelab.report.explain._text import Section

# (words from the report's numbers, figures from its arrays), in storyline order
STORYLINE: tuple[
    tuple[Callable[[ExplainReport], Section], Callable[[ExplainReport], list[fig.Figure]]], ...
] = (
    (lambda r: txt.curse_section(r.curse, r.representation_contrast, r.data.name), fig.curse_figures),
    (lambda r: txt.reduce_section(r.pca), fig.reduce_figures),
    (
        lambda r: txt.autoencoder_section(r.two_d, r.pca, r.training, r.data.n_valid),
        fig.autoencoder_figures,
    ),
    (lambda r: txt.holes_section(r.holes, getattr(r, "holes_large", None)), fig.holes_figures),
    (lambda r: txt.vae_section(r.two_d, r.holes), fig.no_figures),
    (
        lambda r: txt.objective_section(
            r.objective,
            r.linear,
            r.data.n_test,
            r.data.likelihood,
            r.data.likelihood_reason,
            r.data.standardized,
        ),
        fig.no_figures,
    ),
    (
        lambda r: txt.balance_section(r.sweep, r.objective.epochs, r.objective.active_units.threshold),
        fig.balance_figures,
    ),
    (lambda r: txt.generation_section(r.generation), fig.generation_figures),
    (
        lambda r: txt.result_section(
            r.compare, r.typicality, r.unavailable, r.data.likelihood, r.two_d.vae.training.epochs
        ),
        fig.no_figures,
    ),
)


def used_terms(sections: list[Section]) -> list[txt.Term]:
    """The glossary entries whose terms the sections' words or figures use, in glossary order."""
    words = " ".join(w for s in sections for w in [s.title, *s.plain, *s.measure, *s.missing])
    words += " ".join(html.unescape(re.sub(r"<[^>]+>", " ", f.html())) for s in sections for f in s.figures)
    return [t for t in txt.GLOSSARY if re.search(t.pattern, words)]


def build_sections(report: ExplainReport, predict: bool = True) -> list[Section]:
    """All storyline sections, in order, with this run's sentences and figures.

    Parameters
    ----------
    report : ExplainReport
        From `vaelab.report.explain.run_explain`.
    predict : bool
        Ask a question before each section's numbers (`vaelab.report.explain._predict`) and
        end with the self-check (`vaelab.report.explain._selfcheck`).

    Returns
    -------
    list of Section
    """
    sections = []
    for words, figures in STORYLINE:
        sec = words(report)
        sec.figures = figures(report)
        sections.append(sec)
    if not predict:
        return sections
    return [*add_predictions(report, sections), self_check_section(report)]
