"""Predict-first questions and the self-check: the right choice follows this run's numbers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vaelab.report.explain import _predict as pr
from vaelab.report.explain._predict import Questions
from vaelab.report.explain._selfcheck import SelfCheck, self_check


@pytest.fixture(scope="module")
def report():
    from vaelab.report.explain import ExplainConfig, run_explain

    return run_explain(ExplainConfig(preset="quick"))


def _by_id(report) -> dict[str, pr.Prediction]:
    return {p.id: p for p in pr.predictions(report)}


def test_every_section_asks_and_every_answer_is_a_choice(report):
    qs = _by_id(report)
    assert set(qs) >= {"curse", "reduce", "autoencoder", "holes", "vae", "objective", "balance-low"}
    assert set(qs) >= {"balance-high", "generation", "result"}
    for p in qs.values():
        keys = [c.key for c in p.choices]
        assert len(keys) == len(set(keys)) >= 2, p.id
        assert p.answer is None or p.answer in keys, p.id
        assert p.question and p.because, p.id


def test_curse_answer_follows_the_contrast(report):
    c = report.curse
    conc = c.concentration

    def at_top(v):
        return replace(
            report, curse=replace(c, concentration=replace(conc, contrast_mean=[*conc.contrast_mean[:-1], v]))
        )

    assert pr.curse_prediction(at_top(0.1)).answer == "same"
    assert pr.curse_prediction(at_top(0.5)).answer == "less"
    assert pr.curse_prediction(at_top(1.5)).answer == "apart"
    flat = pr.curse_prediction(at_top(conc.contrast_mean[1] + 1))
    assert flat.answer is None and "did not show" in flat.because


def test_pca_answer_is_the_bin_holding_k(report):
    p, n = report.pca, report.pca.n_features
    assert n == 64  # digits: bins up to 6, 16, 32 and above

    def answer(k):
        q = pr.reduce_prediction(replace(report, pca=replace(p, k_for_90=k)))
        assert q is not None
        return q.answer_label()

    assert [answer(k) for k in (1, 6, 7, 16, 17, 32, 33, 64)] == [
        "at most 6",
        "at most 6",
        "7 to 16",
        "7 to 16",
        "17 to 32",
        "17 to 32",
        "more than 32",
        "more than 32",
    ]
    none = pr.reduce_prediction(replace(report, pca=replace(p, k_for_90=None)))
    assert none is not None and none.answer_label() == "more than 32"  # more than 100 of 64: the top bin
    q = pr.reduce_prediction(report)
    assert q is not None and f"{p.k_for_90} of the {n} directions" in q.because


def test_autoencoder_answer_follows_its_error_against_pca(report):
    pca2 = report.pca.squared_error["2"]

    def with_ae(err):
        return replace(report, two_d=replace(report.two_d, ae=replace(report.two_d.ae, squared_error=err)))

    assert pr.autoencoder_prediction(with_ae(0.8 * pca2)).answer == "ae"
    assert pr.autoencoder_prediction(with_ae(1.01 * pca2)).answer == "tie"
    lost = pr.autoencoder_prediction(with_ae(1.3 * pca2))
    assert lost is not None and lost.answer == "pca" and "did not beat" in lost.because


def _with_ae_prior(report, precision, recall):
    h = report.holes_large
    ae = h.by_name("AE")
    smp = replace(ae.samplers["prior"], precision=precision, own_recall=recall)
    ae2 = replace(ae, samplers={**ae.samplers, "prior": smp})
    return replace(report, holes_large=replace(h, models=[ae2 if m is ae else m for m in h.models]))


def test_holes_answer_names_the_failure_or_says_it_did_not_show(report):
    assert pr.holes_prediction(_with_ae_prior(report, 0.05, 0.99)).answer == "off"
    assert pr.holes_prediction(_with_ae_prior(report, 0.99, 0.05)).answer == "alike"
    vae = report.holes_large.by_name("VAE").samplers["prior"]
    same = pr.holes_prediction(_with_ae_prior(report, vae.precision, vae.own_recall))
    assert same is not None and "did not show" in same.because
    assert same.answer == ("real" if min(vae.precision, vae.own_recall) >= 0.5 else same.answer)


def test_vae_answer_follows_the_kl_to_the_prior(report):
    h = report.holes
    ae, vae = h.by_name("AE"), h.by_name("VAE")

    def with_kl(ka, kv):
        models = [
            replace(ae, mismatch=replace(ae.mismatch, gaussian_kl=ka)),
            replace(vae, mismatch=replace(vae.mismatch, gaussian_kl=kv)),
        ]
        return replace(report, holes=replace(h, models=models))

    assert pr.vae_prediction(with_kl(2.0, 0.3)).answer == "vae"
    worse = pr.vae_prediction(with_kl(0.3, 2.0))
    assert worse.answer == "ae" and "did not fit the prior better" in worse.because


def test_elbo_is_below_unless_the_estimate_is_too_noisy(report):
    o = report.objective
    below = pr.objective_prediction(replace(report, objective=replace(o, gap=1.5)))
    assert below.answer == "mid" and "1.5 nats below" in below.because

    def answer(gap):
        return pr.objective_prediction(replace(report, objective=replace(o, gap=gap))).answer

    assert (answer(0.4), answer(10.0), answer(25.0)) == ("near", "mid", "far")
    noisy = pr.objective_prediction(replace(report, objective=replace(o, gap=-0.2)))
    assert noisy.answer is None and "too noisy" in noisy.because


def _sweep_with(report, lo_kw=None, hi_kw=None):
    pts = sorted(report.sweep.points, key=lambda p: p.beta)
    pts[0] = replace(pts[0], **(lo_kw or {}))
    pts[-1] = replace(pts[-1], **(hi_kw or {}))
    return replace(report, sweep=replace(report.sweep, points=pts))


def test_balance_answers_follow_the_sweep(report):
    one = min(report.sweep.points, key=lambda p: abs(p.beta - 1))
    s_one = min(one.precision, one.own_recall)

    def low(r):
        return {p.id: p for p in pr.balance_predictions(r)}["balance-low"]

    assert low(_sweep_with(report, {"precision": s_one - 0.3, "own_recall": 1.0})).answer == "holes"
    kept = low(_sweep_with(report, {"precision": s_one, "own_recall": 1.0, "active_units": 3}))
    assert kept.answer == "same" and "did not come back" in kept.because

    def high(r):
        return {p.id: p for p in pr.balance_predictions(r)}["balance-high"]

    assert high(_sweep_with(report, hi_kw={"active_units": 0, "samples_spread": 0.5})).answer == "collapse"
    alive = high(_sweep_with(report, hi_kw={"active_units": 4, "samples_spread": 0.9}))
    assert alive.answer == "varied" and "did not show up" in alive.because
    assert high(_sweep_with(report, hi_kw={"active_units": 4, "samples_spread": 0.5})).answer == "bland"


def test_generation_and_typicality_answers_follow_their_numbers(report):
    one = min(report.sweep.points, key=lambda p: abs(p.beta - 1))

    def gen(spread):
        pts = [replace(p, samples_spread=spread) if p is one else p for p in report.sweep.points]
        q = pr.generation_prediction(replace(report, sweep=replace(report.sweep, points=pts)))
        assert q is not None
        return q.answer

    assert (gen(0.5), gen(1.0), gen(1.5)) == ("less", "same", "more")
    t = report.typicality

    def typ(share):
        return pr.result_prediction(
            replace(report, typicality=replace(t, shuffled_below_threshold=share))
        ).answer

    assert (typ(0.95), typ(0.6), typ(0.1)) == ("most", "some", "few")


def test_self_check_answers_cite_this_runs_numbers(report):
    items = self_check(report)
    assert len(items) == 6
    o = report.objective
    assert f"{o.gap:.3g} nats below" in items[4].answer
    noisy = self_check(replace(report, objective=replace(o, gap=-0.2)))[4].answer
    assert "too noisy" in noisy and "nats below." not in noisy
    assert f"{report.pca.k_for_90} of its {report.pca.n_features} directions" in items[0].answer
    assert (
        "holes open"
        in self_check(_sweep_with(report, {"precision": 0.0, "own_recall": 1.0, "active_units": 3}))[3].answer
    )


def test_sections_carry_questions_first_and_the_self_check_last(report):
    from vaelab.report.explain import build_sections
    from vaelab.report.explain._markdown import markdown_files

    sections = build_sections(report)
    assert sections[-1].id == "selfcheck" and isinstance(sections[-1].figures[0], SelfCheck)
    asked = {s.id for s in sections if s.figures and isinstance(s.figures[0], Questions)}
    assert asked == {p.section for p in pr.predictions(report)}
    plain = build_sections(report, predict=False)
    assert all(not isinstance(f, Questions | SelfCheck) for s in plain for f in s.figures)
    assert "selfcheck" not in {s.id for s in plain}
    md = markdown_files(report)["explain.md"].decode()
    q = _by_id(report)["objective"]
    assert q.question in md and q.because in md
    assert md.count("**Predict first.**") == len(pr.predictions(report))
    assert "Why is the ELBO a lower bound" in md


def test_page_data_holds_questions_and_answers(report):
    q = Questions(pr.predictions(report))
    data = q.data()["predict"]
    assert set(data) == {p.id for p in pr.predictions(report)}
    for p in pr.predictions(report):
        assert data[p.id]["answer"] == p.answer
        assert f'id="predict-{p.id}"' in q.html()
