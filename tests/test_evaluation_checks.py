"""The self-checks of notebook 11 pass the course's references and fail typical wrong answers,
naming the mistake."""

import torch

from course_lib.checks import show_solution
from course_lib.checks.evaluation import check_frechet_distance, check_precision_recall
from course_lib.evaluation import precision_recall
from course_lib.metrics import gaussian_frechet_distance, psd_sqrt


def _tr_sqrt(cov_a, cov_b):
    root = psd_sqrt(cov_a)
    return torch.linalg.eigvalsh(root @ cov_b @ root).clamp(min=0).sqrt().sum()


def test_the_references_pass():
    assert check_frechet_distance(gaussian_frechet_distance)
    assert check_precision_recall(lambda real, fake, k: (precision_recall(real, fake, k).precision,
                                                         precision_recall(real, fake, k).recall))


def test_a_scipy_sqrtm_answer_passes():
    import scipy.linalg

    def frechet(mu_a, cov_a, mu_b, cov_b):
        root = scipy.linalg.sqrtm((cov_a @ cov_b).numpy())   # may carry a tiny imaginary part
        return float((mu_a - mu_b).pow(2).sum() + torch.trace(cov_a + cov_b)) - 2 * root.trace()

    assert check_frechet_distance(frechet)


def test_typical_frechet_mistakes_are_named():
    def no_two(mu_a, cov_a, mu_b, cov_b):
        return float((mu_a - mu_b).pow(2).sum() + torch.trace(cov_a + cov_b) - _tr_sqrt(cov_a, cov_b))

    def product_of_roots(mu_a, cov_a, mu_b, cov_b):
        return float((mu_a - mu_b).pow(2).sum() + torch.trace(cov_a + cov_b)
                     - 2 * torch.trace(psd_sqrt(cov_a) @ psd_sqrt(cov_b)))

    def no_mean(mu_a, cov_a, mu_b, cov_b):
        return float(torch.trace(cov_a + cov_b) - 2 * _tr_sqrt(cov_a, cov_b))

    def entrywise(mu_a, cov_a, mu_b, cov_b):
        return float((mu_a - mu_b).pow(2).sum() + torch.trace(cov_a + cov_b) - 2 * torch.trace((cov_a @ cov_b).abs().sqrt()))

    for fn, words in ((no_two, "factor 2"), (product_of_roots, "commute"), (no_mean, "mean term"),
                      (entrywise, "every entry")):
        result = check_frechet_distance(fn)
        assert not result and words in result.message, (fn.__name__, result.message)


def test_frechet_check_names_unwritten_and_nan_answers():
    def unwritten(mu_a, cov_a, mu_b, cov_b):
        raise NotImplementedError

    assert "not written yet" in check_frechet_distance(unwritten).message
    assert "NaN" in check_frechet_distance(lambda *args: float("nan")).message
    assert "one number" in check_frechet_distance(lambda *args: torch.zeros(3)).message


def test_typical_precision_recall_mistakes_are_named():
    def swapped(real, fake, k):
        r = precision_recall(real, fake, k)
        return r.recall, r.precision

    def counts_itself(real, fake, k):
        r_real = torch.cdist(real, real).kthvalue(k, dim=1).values
        r_fake = torch.cdist(fake, fake).kthvalue(k, dim=1).values
        return (float((torch.cdist(fake, real) <= r_real[None]).any(1).double().mean()),
                float((torch.cdist(real, fake) <= r_fake[None]).any(1).double().mean()))

    for fn, words in ((swapped, "swapped"), (counts_itself, "itself")):
        result = check_precision_recall(fn)
        assert not result and words in result.message, (fn.__name__, result.message)
    assert "pair" in check_precision_recall(lambda real, fake, k: 0.5).message


def test_show_solution_prints_the_reference(capsys):
    show_solution(gaussian_frechet_distance)
    assert "def gaussian_frechet_distance" in capsys.readouterr().out


def test_the_precision_recall_cases_have_the_answers_they_claim():
    # the check's constructed cases: the reference gives the answer known from the construction
    from course_lib.checks.evaluation import _pr_cases

    for label, real, fake, k, known in _pr_cases():
        if known is None:
            continue
        precision, recall, tolerance = known
        ref = precision_recall(real, fake, k)
        assert abs(ref.recall - recall) <= tolerance, label
        assert ref.precision >= precision - tolerance if tolerance else ref.precision == precision, label


def test_balls_with_the_wrong_radii_are_named():
    from course_lib.evaluation.precision_recall import in_manifold, knn_radii

    def other_radii(real, fake, k):
        return (float(in_manifold(fake, real, knn_radii(fake, k)).double().mean()),
                float(in_manifold(real, fake, knn_radii(real, k)).double().mean()))

    result = check_precision_recall(other_radii)
    assert not result and "own" in result.message, result.message


def test_the_frechet_check_fails_a_trace_of_square_roots():
    def roots_traced(mu_a, cov_a, mu_b, cov_b):
        return float((mu_a - mu_b).pow(2).sum() + torch.trace(psd_sqrt(cov_a)) + torch.trace(psd_sqrt(cov_b))
                     - 2 * _tr_sqrt(cov_a, cov_b))

    result = check_frechet_distance(roots_traced)
    assert not result and "not of their square roots" in result.message, result.message
