"""course_lib.evaluation from the math, on cases whose answer is known by construction:
precision and recall on the ring of 8 Gaussians, memorisation (the ideal denoiser copies, real
held-out digits do not), the watermark (detected at the stated rate, false alarms as the null
distribution says), integrated gradients (completeness), FLOP counts of known layers and Stable
Diffusion's U-Net plan (its published parameter count)."""

import pytest
import torch

from course_lib.data import load_mnist, ring_centers, ring_of_gaussians
from course_lib.evaluation import (
    SD_PARAMETERS,
    WATERMARK_STRENGTH,
    WATERMARK_THRESHOLD,
    Detector,
    IdealDenoiser,
    comparison_table,
    count_flops,
    density,
    detection_rates,
    embed_watermark,
    format_table,
    log_to_tensorboard,
    mean_pairwise_distance,
    memorisation,
    precision_recall,
    profile_call,
    saliency,
    scale_to,
    stable_diffusion_unet,
    tensorboard_available,
    train_detector,
    watermark_robustness,
    watermark_scores,
)
from course_lib.evaluation.explain import class_logit
from course_lib.evaluation.figures import toy_generator
from course_lib.metrics import psnr, split_heldout


@pytest.fixture(scope="module")
def digits():
    train, test = load_mnist("train", quiet=True), load_mnist("test", quiet=True)
    ref, other = split_heldout(test.labels)
    return {"train": train.images, "reference": test.images[ref], "other": test.images[other],
            "test": test.images}


@pytest.fixture(scope="module")
def ring():
    return ring_of_gaussians(800, std=0.05, generator=torch.Generator().manual_seed(0))


# ----------------------------------------------------------------------------- precision and recall


def test_a_generator_covering_half_the_modes_has_recall_one_half(ring):
    half = precision_recall(ring, toy_generator(800, range(4), 0.05, seed=1))
    assert half.recall == pytest.approx(0.5, abs=0.05)        # 4 of 8 modes
    assert half.coverage == pytest.approx(0.5, abs=0.05)
    assert half.precision > 0.93                              # what it draws is on the data


def test_perfect_smeared_and_collapsed_generators(ring):
    perfect = precision_recall(ring, toy_generator(800, range(8), 0.05, seed=2))
    assert perfect.precision > 0.93 and perfect.recall > 0.93
    smeared = precision_recall(ring, toy_generator(800, range(8), 0.3, seed=3))
    assert smeared.precision < 0.4 and smeared.recall > 0.9   # covers everything, little of it on the data
    one = precision_recall(ring, toy_generator(800, [0], 0.05, seed=4))
    assert one.recall == pytest.approx(1 / 8, abs=0.03) and one.precision > 0.93


def test_precision_recall_extremes_are_exact(ring):
    same = precision_recall(ring, ring.clone())
    assert same.precision == 1.0 and same.recall == 1.0 and same.coverage == 1.0
    far = precision_recall(ring, ring + 10.0)
    assert far.precision == 0.0 and far.recall == 0.0 and far.coverage == 0.0
    with pytest.raises(ValueError, match="k must be"):
        precision_recall(ring[:3], ring[:3], k=3)


def test_density_is_one_for_one_distribution_and_not_fooled_by_an_outlier_ball(ring):
    # two samples of one distribution: each generated point lies in about k real balls -> density ≈ 1
    same = precision_recall(ring, ring_of_gaussians(800, std=0.05, generator=torch.Generator().manual_seed(9)))
    assert same.density == pytest.approx(1.0, abs=0.1)
    # a collapsed generator (every sample at one point) caught by the ball of a single real outlier:
    # precision says 1, density says 1/k (one ball of k), recall says 1/N
    real = torch.cat([ring[:200], torch.tensor([[0.0, 0.0]])])        # an outlier at the centre: its ball has radius ≈ 2
    fake = torch.zeros(201, 2, dtype=real.dtype) + 0.01 * torch.randn(201, 2, generator=torch.Generator().manual_seed(1))
    pr = precision_recall(real, fake, k=3)
    assert pr.precision == 1.0 and pr.density == pytest.approx(1 / 3, abs=1e-12)
    assert pr.recall == pytest.approx(1 / 201)
    assert density(ring, ring + 10.0) == 0.0


def test_ring_modes_line_up_with_the_data():
    # the stand-in generator uses the data's own mode centres
    assert torch.allclose(toy_generator(8, range(8), 1e-9, seed=0).norm(dim=1), torch.full((8,), 2.0), atol=1e-5)
    assert ring_centers(8, 2.0).shape == (8, 2)


# ----------------------------------------------------------------------------- memorisation


def test_the_ideal_denoiser_predicts_the_training_digit_it_is_near(digits):
    few = digits["train"][:16]
    model = IdealDenoiser(few)
    t = 50
    alpha_bar_t = model.schedule.alpha_bars[t].float()
    noise = torch.randn(few[:4].shape, generator=torch.Generator().manual_seed(0))
    xt = alpha_bar_t.sqrt() * few[:4] + (1 - alpha_bar_t).sqrt() * noise
    noise_pred = model(xt, t)
    x0_pred = (xt - (1 - alpha_bar_t).sqrt() * noise_pred) / alpha_bar_t.sqrt()
    assert torch.allclose(x0_pred, few[:4], atol=1e-3)       # early in the run the answer is one digit
    assert torch.allclose(noise_pred, noise, atol=1e-2)


def test_memorisation_flags_the_ideal_denoiser_and_finds_what_it_copied(digits):
    from course_lib.diffusion.samplers import sample

    few = digits["train"][:32]
    samples = sample(IdealDenoiser(few), 64, nfe=25, seed=0, device="cpu", progress=False)
    report = memorisation(samples, few, digits["test"])
    assert report.flagged and report.copy_share > 0.95 and report.closer_to_train == 1.0
    assert report.pool_size == 32                              # held-out subsampled to the training size
    assert float((samples - few[report.nearest_train]).abs().max()) < 0.05  # the copies themselves


def test_memorisation_clears_real_heldout_digits(digits):
    report = memorisation(digits["reference"], digits["train"], digits["other"])
    assert not report.flagged and report.copy_share < 0.01
    assert report.closer_to_train == pytest.approx(0.5, abs=0.1)
    assert report.median_ratio == pytest.approx(1.0, abs=0.1)
    assert "cleared" in str(report)


@pytest.mark.slow
def test_memorisation_flags_a_gan_overfit_on_32_digits(digits):
    # the source's MLP GAN trained on 32 digits for 1,500 steps reproduces them (measured: 34 % copies
    # after 1,200 steps); a model trained on all 4,000 digits would not
    from course_lib.device import seed_everything
    from course_lib.gan import MLPDiscriminator, MLPGenerator, generate, train_gan

    seed_everything(0)
    few = digits["train"][torch.randperm(4000, generator=torch.Generator().manual_seed(0))[:32]]
    generator = MLPGenerator()
    train_gan(generator, MLPDiscriminator(), few, steps=1500, seed=0, device="cpu", progress=False,
              batch_size=32, lr=2e-4, betas=(0.5, 0.999))
    report = memorisation(generate(generator, 500, seed=1, device="cpu"), few, digits["test"])
    assert report.flagged, str(report)


# ----------------------------------------------------------------------------- the watermark


def test_the_watermark_is_detected_at_the_stated_rate(digits):
    # the stated rate (notebook 11, detection.py): with α = 0.1 at least 99 % of marked digits have
    # z > 4, while at most 0.5 % of unmarked digits do, at a PSNR of at least 28 dB
    images = digits["test"]
    marked = embed_watermark(images, key=7)
    z_marked, z_clean = watermark_scores(marked, key=7), watermark_scores(images, key=7)
    assert WATERMARK_STRENGTH == 0.1 and WATERMARK_THRESHOLD == 4.0
    assert float((z_marked > WATERMARK_THRESHOLD).double().mean()) >= 0.99
    assert float((z_clean > WATERMARK_THRESHOLD).double().mean()) <= 0.005
    assert float(psnr(marked, images).mean()) >= 28.0
    # without the mark z is close to standard normal (the threshold's false-alarm rate rests on it)
    assert abs(float(z_clean.mean())) < 0.2 and 0.7 < float(z_clean.std()) < 1.3
    # another key does not see it
    assert float((watermark_scores(marked, key=8) > WATERMARK_THRESHOLD).double().mean()) <= 0.005


def test_watermark_robustness_noise_crop_and_shift(digits):
    rows = watermark_robustness(digits["test"][:500], key=3, noise=(0.0, 0.1, 0.5), crop=(28, 20), shifts=(0, 2))
    rate = {(r["attack"], r["value"]): r["detected"] for r in rows}
    assert rate[("noise", 0.0)] >= 0.99 and rate[("crop", 28)] >= 0.99 and rate[("shift", 0)] >= 0.99
    assert rate[("noise", 0.5)] < rate[("noise", 0.1)] <= rate[("noise", 0.0)]  # noise weakens it
    assert rate[("crop", 20)] < rate[("crop", 28)]
    assert rate[("shift", 2)] < 0.1                           # a misaligned pattern is not found
    assert all(r["false_alarms"] <= 0.01 for r in rows)


# ----------------------------------------------------------------------------- the detector


def test_a_detector_learns_to_flag_fakes_it_was_trained_on(digits):
    gen = torch.Generator().manual_seed(0)
    noisy = (digits["train"][:600] + 0.5 * torch.randn(600, 1, 28, 28, generator=gen)).clamp(-1, 1)
    detector = Detector()
    record = train_detector(detector, digits["train"][600:1200], {"noisy digits": noisy}, steps=300, seed=0,
                            device="cpu", progress=False, batch_size=32)
    assert record.steps == 300 and record.mean("accuracy", 20) > 0.9
    fresh = (digits["reference"] + 0.5 * torch.randn(digits["reference"].shape, generator=gen)).clamp(-1, 1)
    rates = detection_rates(detector, digits["other"], {"noisy digits": fresh})
    assert rates["noisy digits"] > 0.9 and rates["real digits"] < 0.1
    with pytest.raises(ValueError, match="fakes must name"):
        train_detector(Detector(), digits["train"][:10], {}, steps=1, progress=False)


# ----------------------------------------------------------------------------- explainability


def test_integrated_gradients_are_complete(digits):
    from course_lib.classifier import load_classifier

    x = digits["test"][:4]
    model = load_classifier("cpu")
    ig, target = saliency(x, method="integrated_gradients", steps=32)
    with torch.no_grad():
        gap = class_logit(model, x, target) - class_logit(model, torch.full_like(x, -1.0), target)
    # Σ_i IG_i = f_c(x) − f_c(x'), up to the error of a 32-point midpoint sum
    assert torch.allclose(ig.flatten(1).sum(1), gap, rtol=0.03)
    grad, target3 = saliency(x, target=3, method="gradient")
    assert grad.shape == x.shape and bool((target3 == 3).all())


# ----------------------------------------------------------------------------- cost


def test_count_flops_of_known_layers():
    linear = torch.nn.Linear(10, 20)
    assert count_flops(lambda: linear(torch.zeros(3, 10))) == 2 * 3 * 10 * 20
    conv = torch.nn.Conv2d(4, 8, 3, padding=1)
    assert count_flops(lambda: conv(torch.zeros(2, 4, 5, 5))) == 2 * 2 * 8 * 5 * 5 * 4 * 3 * 3


def test_stable_diffusions_unet_plan_has_its_published_parameter_count():
    unet, _ = stable_diffusion_unet()
    assert sum(p.numel() for p in unet.parameters()) == SD_PARAMETERS == 859_520_964
    assert all(p.device.type == "meta" for p in unet.parameters())  # nothing allocated


@pytest.mark.slow
def test_stable_diffusions_unet_flops_per_step():
    _, step = stable_diffusion_unet()
    flops = count_flops(step)
    assert 7.5e11 < flops < 8.5e11                            # ≈ 803 GFLOPs for one 64×64 latent, text 77×768


def test_profile_call_and_scaling():
    layer = torch.nn.Conv2d(8, 8, 3, padding=1)
    prof = profile_call(lambda: layer(torch.zeros(4, 8, 16, 16)), repeats=2, row_limit=3)
    assert prof["seconds"] > 0 and 1 <= len(prof["operators"]) <= 3
    assert sum(o["share"] for o in prof["operators"]) <= 1.0 + 1e-9
    assert any("conv" in o["name"] for o in prof["operators"])
    assert scale_to(0.01, 1e6, 1e9) == pytest.approx(10.0)


def test_tensorboard_is_optional(tmp_path, monkeypatch):
    from course_lib.train_loop import TrainRecord

    record = TrainRecord(steps=3, history={"loss": [1.0, 0.5, 0.25]})
    if tensorboard_available():
        run = log_to_tensorboard(record, tmp_path)
        assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / run).rglob("*")) or \
            any(p.name.startswith("events.out.tfevents") for p in tmp_path.rglob("*"))
    monkeypatch.setattr("course_lib.evaluation.cost.tensorboard_available", lambda: False)
    with pytest.raises(ImportError, match="pip install tensorboard"):
        log_to_tensorboard(record, tmp_path)
    with pytest.raises(TypeError, match="record"):
        log_to_tensorboard({"loss": [1.0]}, tmp_path)


# ----------------------------------------------------------------------------- the table


def test_mean_pairwise_distance():
    points = torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=torch.float64)
    assert mean_pairwise_distance(points) == pytest.approx(5.0)


@pytest.mark.slow
def test_comparison_table_real_digits_top_and_a_collapsed_generator_bottom(digits):
    samples = {"real digits": digits["other"], "one digit 500 times": digits["other"][:1].repeat(500, 1, 1, 1)}
    rows = {r["label"]: r for r in comparison_table(samples, {"real digits": 0.0}, train=digits["train"],
                                                    heldout=digits["test"])}
    real, one = rows["real digits"], rows["one digit 500 times"]
    assert real["precision"] > 0.6 and real["recall"] > 0.6 and 0.9 < real["diversity"] < 1.1
    assert real["frechet_ratio"] < 2.5
    assert one["recall"] < 0.05 and one["diversity"] == pytest.approx(0.0, abs=1e-6) and one["class_entropy"] == 0.0
    text = format_table(list(rows.values()))
    assert "Fréchet ratio" in text and "one digit 500 times" in text
    assert format_table(list(rows.values()), markdown=True).count("|---") == 0  # "| --- |" cells
