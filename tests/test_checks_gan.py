"""The GAN self-checks pass the references and fail the typical wrong answers with a useful sentence."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_lib.checks.gan import (
    check_discriminator_loss,
    check_gan_step,
    check_optimal_discriminator,
    solution_discriminator_loss,
)
from course_lib.gan import optimal_discriminator, train_step


def assert_each_fails(check, cases):
    """Every wrong answer in ``cases`` ((function, words)) fails ``check``, naming its mistake."""
    for wrong, words in cases:
        result = check(wrong)
        assert not result, wrong.__name__
        assert words in result.message, (wrong.__name__, result.message)


# ----------------------------------------------------------------------------- discriminator loss


def test_reference_discriminator_loss_passes():
    result = check_discriminator_loss(solution_discriminator_loss)
    assert result and "✅" in repr(result)


def test_bce_with_logits_written_by_hand_passes():
    def with_bce(discriminator, real, fake):
        real_logits = discriminator(real)
        fake_logits = discriminator(fake.detach())
        return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))

    assert check_discriminator_loss(with_bce)


def test_sigmoid_then_log_passes_too():
    def with_probabilities(discriminator, real, fake):
        d_real = torch.sigmoid(discriminator(real))
        d_fake = torch.sigmoid(discriminator(fake.detach()))
        return -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())

    assert check_discriminator_loss(with_probabilities)


def test_sign_flipped_fails():
    def flipped(discriminator, real, fake):
        return -solution_discriminator_loss(discriminator, real, fake)

    result = check_discriminator_loss(flipped)
    assert not result and "sign" in result.message


def test_log_missing_fails():
    def no_log(discriminator, real, fake):
        d_real = torch.sigmoid(discriminator(real))
        d_fake = torch.sigmoid(discriminator(fake.detach()))
        return -(d_real.mean() + (1 - d_fake).mean())

    result = check_discriminator_loss(no_log)
    assert not result and "log is missing" in result.message


def test_detach_missing_fails():
    def no_detach(discriminator, real, fake):
        real_logits, fake_logits = discriminator(real), discriminator(fake)
        return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))

    result = check_discriminator_loss(no_detach)
    assert not result and "detach" in result.message


def test_other_typical_mistakes_fail():
    def averaged(discriminator, real, fake):
        return solution_discriminator_loss(discriminator, real, fake) / 2

    def logits_as_probabilities(discriminator, real, fake):  # forgot D = sigmoid(logit)
        a_real, a_fake = discriminator(real), discriminator(fake.detach())
        return -(torch.log(a_real.clamp_min(1e-6)).mean() + torch.log((1 - a_fake).clamp_min(1e-6)).mean())

    def swapped_labels(discriminator, real, fake):
        return solution_discriminator_loss(discriminator, fake.detach(), real)

    def item(discriminator, real, fake):
        return torch.tensor(solution_discriminator_loss(discriminator, real, fake).item())

    def per_sample(discriminator, real, fake):
        return -F.logsigmoid(discriminator(real))

    def not_written(discriminator, real, fake):
        raise NotImplementedError

    assert_each_fails(check_discriminator_loss, (
        (averaged, "half"),
        (logits_as_probabilities, "sigmoid"),
        (swapped_labels, "L_D"),
        (item, "gradient"),
        (per_sample, "one number"),
        (not_written, "not written yet"),
    ))


# ----------------------------------------------------------------------------- optimal discriminator


def test_reference_optimal_discriminator_passes():
    assert check_optimal_discriminator(optimal_discriminator)


def test_plain_formula_passes_where_it_matters():
    # 0/0 outside both supports gives NaN, which is allowed: no sample ever lands there
    assert check_optimal_discriminator(lambda p_data, p_g: p_data / (p_data + p_g))


def test_flipped_optimal_discriminator_fails():
    result = check_optimal_discriminator(lambda p_data, p_g: p_g / (p_data + p_g))
    assert not result and "1 − D*" in result.message


def test_ratio_instead_of_probability_fails():
    result = check_optimal_discriminator(lambda p_data, p_g: p_data / p_g)
    assert not result and ("denominator" in result.message or "p_data + p_g" in result.message)


def test_other_wrong_optimal_discriminators_fail():
    assert_each_fails(check_optimal_discriminator, (
        (lambda p_data, p_g: torch.full_like(p_data, 0.5), "D*("),
        (lambda p_data, p_g: p_data / (p_data + p_g + 1e-3), "D*("),
        (lambda p_data, p_g: p_data / (p_data + p_g + 1e-12) * 2, "outside [0, 1]"),
        (lambda p_data, p_g: (p_data / (p_data + p_g))[:10], "shape"),
        (lambda p_data, p_g: [0.5], "tensor"),
        (lambda p_data, p_g: torch.log(p_data) - torch.log(p_data + p_g), "outside [0, 1]"),
    ))


# ----------------------------------------------------------------------------- one training step


def _step(discriminator, generator, real, z, opt_g, opt_d, *, d_labels=(1.0, 0.0), g_target=1.0,
          detach=True, g_first=False, zero_d=True):
    """A hand-written two-phase step with BCEWithLogitsLoss, and switches for the usual mistakes."""
    bce = F.binary_cross_entropy_with_logits

    def d_phase():
        fake = generator(z)
        if zero_d:
            opt_d.zero_grad()
        real_logits = discriminator(real)
        fake_logits = discriminator(fake.detach() if detach else fake)
        loss = (bce(real_logits, torch.full_like(real_logits, d_labels[0]))
                + bce(fake_logits, torch.full_like(fake_logits, d_labels[1])))
        loss.backward()
        opt_d.step()
        return loss

    def g_phase():
        opt_g.zero_grad()
        fake_logits = discriminator(generator(z))
        loss = bce(fake_logits, torch.full_like(fake_logits, g_target))
        loss.backward()
        opt_g.step()
        return loss

    if g_first:
        g_loss = g_phase()
        return d_phase(), g_loss
    d_loss = d_phase()
    return d_loss, g_phase()


def test_reference_gan_step_passes():
    result = check_gan_step(train_step)
    assert result and "✅" in repr(result), result.message


def test_hand_written_gan_steps_pass():
    def with_bce(generator, discriminator, real, z, opt_g, opt_d):
        return _step(discriminator, generator, real, z, opt_g, opt_d)

    def like_the_source(generator, discriminator, real, z, opt_g, opt_d):
        # the source's order and its Sigmoid + BCELoss (probabilities instead of logits)
        bce = torch.nn.BCELoss()
        opt_d.zero_grad()
        real_out = torch.sigmoid(discriminator(real))
        d_real_loss = bce(real_out, torch.ones_like(real_out))
        fake = generator(z)
        fake_out = torch.sigmoid(discriminator(fake.detach()))
        d_loss = d_real_loss + bce(fake_out, torch.zeros_like(fake_out))
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        fake_out = torch.sigmoid(discriminator(fake))
        g_loss = bce(fake_out, torch.ones_like(fake_out))
        g_loss.backward()
        opt_g.step()
        return d_loss.item(), g_loss.item()

    for fn in (with_bce, like_the_source):
        result = check_gan_step(fn)
        assert result, (fn.__name__, result.message)


def test_gan_step_mistakes_fail_with_their_reason():
    def no_detach(generator, discriminator, real, z, opt_g, opt_d):
        return _step(discriminator, generator, real, z, opt_g, opt_d, detach=False)

    def no_detach_new_fakes(generator, discriminator, real, z, opt_g, opt_d):
        # D's loss reaches G, but G's own step draws its fakes again, so nothing crashes
        opt_d.zero_grad()
        real_logits, fake_logits = discriminator(real), discriminator(generator(z))
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_logits = discriminator(generator(z))
        g_loss = F.binary_cross_entropy_with_logits(g_logits, torch.ones_like(g_logits))
        g_loss.backward()
        opt_g.step()
        return d_loss, g_loss

    def g_before_d(generator, discriminator, real, z, opt_g, opt_d):
        return _step(discriminator, generator, real, z, opt_g, opt_d, g_first=True)

    def g_with_fake_labels(generator, discriminator, real, z, opt_g, opt_d):
        return _step(discriminator, generator, real, z, opt_g, opt_d, g_target=0.0)

    def g_saturating(generator, discriminator, real, z, opt_g, opt_d):
        return train_step(generator, discriminator, real, z, opt_g, opt_d, loss="saturating")

    def swapped_labels(generator, discriminator, real, z, opt_g, opt_d):
        return _step(discriminator, generator, real, z, opt_g, opt_d, d_labels=(0.0, 1.0))

    def d_grads_not_zeroed(generator, discriminator, real, z, opt_g, opt_d):
        return _step(discriminator, generator, real, z, opt_g, opt_d, zero_d=False)

    def g_through_old_d(generator, discriminator, real, z, opt_g, opt_d):
        fake = generator(z)
        fake_logits = discriminator(fake)  # kept for G's loss, before D's update
        opt_d.zero_grad()
        real_logits = discriminator(real)
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits.detach(), torch.zeros_like(fake_logits)))
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        g_loss.backward()
        opt_g.step()
        return d_loss, g_loss

    def wrong_return(generator, discriminator, real, z, opt_g, opt_d):
        _step(discriminator, generator, real, z, opt_g, opt_d)
        return None

    def losses_swapped(generator, discriminator, real, z, opt_g, opt_d):
        d_loss, g_loss = _step(discriminator, generator, real, z, opt_g, opt_d)
        return g_loss, d_loss

    def not_written(generator, discriminator, real, z, opt_g, opt_d):
        raise NotImplementedError

    assert_each_fails(check_gan_step, (
        (no_detach, "fake.detach()"),
        (no_detach_new_fakes, "fake.detach()"),
        (g_before_d, "updates G before D"),
        (g_with_fake_labels, "fake labels"),
        (g_saturating, "saturating loss"),
        (swapped_labels, "swapped labels"),
        (d_grads_not_zeroed, "opt_d.zero_grad()"),
        (g_through_old_d, "before D's update"),
        (wrong_return, "(d_loss, g_loss)"),
        (losses_swapped, "returned d_loss"),
        (not_written, "not written yet"),
    ))


def test_gan_step_check_leaves_the_global_random_state_alone():
    state = torch.random.get_rng_state()
    check_gan_step(train_step)
    assert torch.equal(state, torch.random.get_rng_state())
