"""The figures of notebook 08 draw what they are given (issue 15), and Chinese prompts stay readable
on machines without a Chinese font."""

from __future__ import annotations

import math

import pytest
import torch
from matplotlib.figure import Figure

import course_lib.text2img.figures as figures
from course_lib.text2img import build_clip, build_text2img, generate
from course_lib.text2img.captions import example_strokes
from course_lib.text2img.clip import similarities
from course_lib.text2img.evaluate import (
    guidance_sweep,
    negative_prompt_effect,
    parts_table,
    prompt_set,
)
from course_lib.text2img.tokenizer import to_english

SMALL = {"text": dict(width=16, layers=1, heads=2), "denoiser": dict(base_channels=16, heads=2)}


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    return build_text2img(SMALL).eval()


def test_static_figures(digit_batch):
    images, _ = digit_batch
    assert isinstance(figures.plot_pipeline(), Figure)
    assert isinstance(figures.plot_measurers(torch.cat([example_strokes(), images[:3]])), Figure)
    assert isinstance(figures.plot_captioned_digits(images[:4], ["a one", "一个七", "", "a bold two"]), Figure)
    with pytest.raises(ValueError, match="one caption per image"):
        figures.plot_captioned_digits(images[:4], ["a one"])
    clip = build_clip(dict(width=16, layers=1, heads=2, embed_dim=8, image_width=8))
    prompts = ["a one", "一个七"]
    assert isinstance(figures.plot_similarity(similarities(clip, images[:3], prompts), images[:3], prompts), Figure)
    assert isinstance(figures.plot_retrieval({"a one": images[:4], "一个七": images[4:8]}), Figure)


def test_model_figures(pipe):
    assert isinstance(figures.plot_prompt_panel("a bold seven", steps=2, pipe=pipe, n=3), Figure)
    refused = figures.plot_prompt_panel("a blod seven", steps=2, pipe=pipe, n=3)   # one line in the panel
    assert "unknown word 'blod'" in refused.axes[0].texts[0].get_text()
    images, record = generate(pipe, ["a bold seven", "一个细的二"], nfe=3, return_attention=True, progress=False)
    assert isinstance(figures.plot_cross_attention(images, record, image=1, columns=2), Figure)
    sweep = guidance_sweep(pipe, [0.0, 2.0], 4, nfe=2)
    assert isinstance(figures.plot_guidance_sweep(sweep), Figure)
    effect = negative_prompt_effect(pipe, "bold", 4, nfe=2)
    assert isinstance(figures.plot_negative_prompt(effect, count=4), Figure)
    assert [row[0] for row in parts_table(pipe)] == ["tokenizer", "text encoder", "autoencoder", "denoiser", "sampler"]


def test_measurement_prompts_cycle_words_fastest():
    prompts, digits, classes = prompt_set("slant", 7)
    assert prompts[:4] == ["a left-leaning zero", "an upright zero", "a right-leaning zero", "a left-leaning one"]
    assert digits[:4] == [0, 0, 0, 1] and classes[:4] == [0, 1, 2, 0]
    assert prompt_set("digit", 3, "zh")[0] == ["一个零", "一个一", "一个二"]
    assert prompt_set("empty", 2) == (["", ""], [None, None], [None, None])
    with pytest.raises(ValueError, match="negative_prompt must name exactly one attribute word"):
        negative_prompt_effect(None, "a seven")


def test_chinese_in_figures_without_a_chinese_font(monkeypatch):
    assert to_english("一个粗的右倾的七") == "a bold right-leaning seven"
    assert to_english("一个直立的八") == "an upright eight" and to_english("七") == "seven"
    monkeypatch.setattr(figures, "cjk_font", lambda: None)
    assert figures.shown("一个粗的七") == "zh: a bold seven" and figures.shown("a bold seven") == "a bold seven"
    assert figures.text_font() == {}
    monkeypatch.setattr(figures, "cjk_font", lambda: "Noto Sans CJK SC")
    assert figures.shown("一个粗的七") == "一个粗的七"
    assert figures.text_font() == {"fontfamily": ["DejaVu Sans", "Noto Sans CJK SC"]}


def test_scores_already_drawn_are_reused_only_when_drawn_alike(pipe):
    from course_lib.text2img.evaluate import score_prompts

    base = score_prompts(pipe, "digit", 4, nfe=2, guidance_scale=2.0)
    assert (base.nfe, base.seed) == (2, 0) and base.row()["nfe"] == 2
    fresh = negative_prompt_effect(pipe, "bold", 4, nfe=2, guidance_scale=2.0)
    reused = negative_prompt_effect(pipe, "bold", 4, nfe=2, guidance_scale=2.0, without=base)
    assert reused["without"] is base and torch.equal(fresh["without"].images, base.images)   # same seeds, same pictures
    assert reused["shift"] == pytest.approx(fresh["shift"]) and reused["mean_with"] == pytest.approx(fresh["mean_with"])
    sweep = guidance_sweep(pipe, [0.0, 2.0], 4, nfe=2, known=base)
    assert sweep[2.0] is base and torch.equal(sweep[0.0].images, guidance_sweep(pipe, [0.0], 4, nfe=2)[0.0].images)
    with pytest.raises(ValueError, match="without cannot be reused here: they were drawn with guidance_scale=2.0, not 3"):
        negative_prompt_effect(pipe, "bold", 4, nfe=2, without=base)
    with pytest.raises(ValueError, match="drawn with nfe=2, not 3"):
        negative_prompt_effect(pipe, "bold", 4, nfe=3, guidance_scale=2.0, without=base)
    with pytest.raises(ValueError, match="guidance_scale=2, which is not one of the scales"):
        guidance_sweep(pipe, [0.0, 1.0], 4, nfe=2, known=base)
    with pytest.raises(TypeError, match="known must be a PromptScores"):
        guidance_sweep(pipe, [0.0], 4, nfe=2, known={"w": 2.0})


def test_the_prompt_panel_has_a_generate_button_and_draws_only_when_pressed(pipe, monkeypatch):
    import ipywidgets
    import ipywidgets.widgets.interaction as interaction

    from course_lib.widgets import interact_figure

    shown, drawn = [], []
    monkeypatch.setattr(interaction, "display", lambda w: shown.append(w))
    monkeypatch.setattr("course_lib.widgets.show_figure", lambda fig: drawn.append(fig))
    prompt = ipywidgets.Text(description="prompt")
    interact_figure(figures.plot_prompt_panel, manual="Generate", prompt=prompt,
                    steps=ipywidgets.IntSlider(min=1, max=100), pipe=ipywidgets.fixed(pipe), n=ipywidgets.fixed(2))
    panel = shown[0]
    assert prompt.value == "a bold seven" and drawn == []                      # the defaults, nothing drawn yet
    assert panel.manual_button.description == "Generate"
    panel.kwargs_widgets[1].value = 2                                           # a slider moved: no drawing
    assert drawn == []
    panel.manual_button.click()                                                 # the button draws
    assert len(drawn) == 1 and isinstance(drawn[0], Figure)
    assert drawn[0]._suptitle.get_text().startswith('"a bold seven"   w = 3, 2 steps')
    prompt.value = "一个细的二"                                                   # Enter in a text box draws too
    assert len(drawn) == 2 and "zh: a thin two" in drawn[1]._suptitle.get_text()


def test_diversity_is_relative_to_real_digits_of_the_class_or_of_all_classes(monkeypatch):
    import course_lib.text2img.evaluate as evaluate

    spread = torch.tensor([2.0] * 10 + [8.0])            # within each class 2; among all real digits 8
    monkeypatch.setattr(evaluate, "_real_spread", lambda: spread)
    feats = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0], [0.0, 0.0], [6.0, 8.0]])   # pair distances 5 and 0, 10
    # "a seven" twice (distance 5, over 2) and "" twice (distance 10, over 8); the lone "a one" is skipped
    groups, digits = ["a seven", "a seven", "a one", "", ""], [7, 7, 1, None, None]
    assert evaluate.feature_diversity(feats, groups, digits) == pytest.approx((5 / 2 + 10 / 8) / 2)
    assert math.isnan(evaluate.feature_diversity(feats[:1], ["a one"], [1]))       # no pair to measure


def test_the_one_call_attention_figure_for_slides(pipe):
    fig = figures.plot_prompt_attention("一个粗的七", pipe=pipe, nfe=3, columns=2)
    assert isinstance(fig, Figure) and "zh: a bold seven" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="pipe must be the text-to-image model"):
        figures.plot_prompt_attention("a seven")
