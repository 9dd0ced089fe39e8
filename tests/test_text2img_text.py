"""Text to image, the text side: the measurers on synthetic strokes, the captions, the tokenizer
(unknown words, Chinese, the empty prompt) and CLIP's InfoNCE loss (issue 15)."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib.text2img import PromptError, caption, split_words, tokenize
from course_lib.text2img.captions import (
    caption_digits,
    digit_height,
    draw_stroke,
    measure,
    sample_captions,
    slant_degrees,
    stroke_thickness,
)
from course_lib.text2img.clip import (
    CLIPMini,
    build_clip,
    digit_prompts,
    info_nce,
    retrieve,
    similarities,
    train_clip,
)
from course_lib.text2img.tokenizer import CONTEXT_LENGTH, TOKEN_IDS, VOCAB, check_prompts

# ----------------------------------------------------------------------------- measurers on synthetic strokes


@pytest.mark.parametrize("width", [1.5, 2.0, 3.0, 4.0, 5.0, 6.0])
@pytest.mark.parametrize("angle", [0, 10, 20, 30, 45, -20])
def test_stroke_thickness_of_a_bar_is_its_width(width, angle):
    # a bar k px wide measures k within 0.35 px at any angle and sub-pixel position
    for offset in (0.0, 0.3):
        measured = float(stroke_thickness(draw_stroke(width, angle, centre=(14 + offset, 14))))
        assert measured == pytest.approx(width, abs=0.35), (width, angle, offset, measured)


def test_thickness_grows_with_the_width_and_ignores_the_length():
    widths = stroke_thickness(torch.cat([draw_stroke(w, 15) for w in (1.5, 2.5, 3.5, 4.5, 5.5)]))
    assert bool((widths.diff() > 0.5).all()), widths
    lengths = stroke_thickness(torch.cat([draw_stroke(3, 0, length) for length in (8, 12, 18, 24)]))
    assert float(lengths.max() - lengths.min()) < 0.1, lengths


@pytest.mark.parametrize("angle", [-30, -20, -6, 0, 6, 14, 20, 30])
def test_slant_of_a_thin_bar_is_its_angle(angle):
    # second moments of a bar 2 px wide and 18 long: within 1° (a wide bar's cross-section biases it towards 0)
    assert float(slant_degrees(draw_stroke(2, angle))) == pytest.approx(angle, abs=1.0)
    wide = float(slant_degrees(draw_stroke(5, angle)))
    assert abs(wide) <= abs(angle) + 1e-6 and wide == pytest.approx(angle, abs=0.1 * abs(angle) + 1e-6)


def test_slant_sign_left_is_negative_and_mirroring_flips_it():
    x = draw_stroke(3, 17)
    assert float(slant_degrees(x)) > 15
    assert float(slant_degrees(x.flip(-1))) == pytest.approx(-float(slant_degrees(x)), abs=1e-4)


@pytest.mark.parametrize("length", [10, 14, 18, 20])
def test_height_of_a_bar_is_its_length(length):
    assert int(digit_height(draw_stroke(3, 0, length))) == length


def test_classes_of_synthetic_strokes():
    strokes = torch.cat([draw_stroke(1.6, 0), draw_stroke(4.0, 0), draw_stroke(2.5, -15), draw_stroke(2.5, 25),
                         draw_stroke(2.5, 9), draw_stroke(2.5, 0, 12), draw_stroke(2.5, 0, 20)])
    found = measure(strokes)
    assert found.thickness.tolist() == [0, 1, -1, -1, -1, -1, -1]          # thin, bold, then in between
    assert found.slant.tolist() == [1, 1, 0, 2, -1, 1, 1]                  # upright, left, right, none (9°)
    assert found.size.tolist()[-2:] == [0, 1]                              # 12 px small, 20 px large


def test_measure_refuses_what_is_not_a_batch_of_digits():
    with pytest.raises(ValueError, match="images must have shape"):
        measure(torch.zeros(2, 1, 32, 32))


# ----------------------------------------------------------------------------- captions


def test_captions_in_both_languages_and_articles():
    attrs = {"thickness": 1, "slant": 2, "size": 0}
    assert caption(7, attrs) == "a small bold right-leaning seven"
    assert caption(7, attrs, "zh") == "一个小的粗的右倾的七"
    assert caption(8) == "an eight" and caption(1) == "a one" and caption(3, {"slant": 1}) == "an upright three"
    assert caption(7, language="zh") == "一个七" and caption(7, language="zh", article=False) == "七"
    for language in ("en", "zh"):  # every caption the course writes can be read back
        for d in range(10):
            assert split_words(caption(d, attrs, language))


def test_captioned_digits_and_training_captions(digit_batch):
    images, labels = digit_batch
    data = caption_digits((images, labels))
    assert len(data) == 16 and set(data.attributes) == {"thickness", "slant", "size"}
    g = torch.Generator().manual_seed(0)
    caps = sample_captions(data.labels, data.attributes, g, caption_dropout=0.0, attribute_dropout=0.0,
                           chinese_share=0.0, article_dropout=0.0)
    assert caps == data.captions("en")
    g = torch.Generator().manual_seed(0)
    many = sample_captions(data.labels.repeat(50), {k: v.repeat(50) for k, v in data.attributes.items()}, g)
    empty = sum(c == "" for c in many) / len(many)
    chinese = sum(any("\u4e00" <= ch <= "\u9fff" for ch in c) for c in many) / len(many)
    assert 0.05 < empty < 0.15 and 0.35 < chinese < 0.55, (empty, chinese)   # 10 % dropped, half of the rest Chinese


# ----------------------------------------------------------------------------- the tokenizer


def test_tokens_of_an_english_prompt():
    tokens = tokenize("A bold seven.")
    want = [TOKEN_IDS[w] for w in ("<start>", "a", "bold", "seven", "<end>")]
    assert tokens.ids.shape == (1, CONTEXT_LENGTH) and tokens.ids[0, :5].tolist() == want
    assert tokens.mask[0].tolist() == [True] * 5 + [False] * (CONTEXT_LENGTH - 5)
    assert bool((tokens.ids[0, 5:] == TOKEN_IDS["<pad>"]).all())


def test_chinese_is_cut_by_longest_match():
    assert split_words("一个粗的七") == ["一个", "粗", "的", "七"]
    assert split_words("七") == ["七"]
    assert split_words("一个一") == ["一个", "一"]            # "a one": the article wins, then the digit
    assert split_words("一个细的左倾的二") == ["一个", "细", "的", "左倾", "的", "二"]
    assert split_words("一个 bold 七") == ["一个", "bold", "七"]
    assert split_words("一个bold七") == ["一个", "bold", "七"]   # mixed runs without spaces
    assert split_words("a thick 7") == ["a", "bold", "seven"]    # synonyms and digits


def test_the_empty_prompt_is_start_and_end_only():
    for prompt in ("", "   ", " , "):
        tokens = tokenize(prompt)
        assert tokens.ids[0, :2].tolist() == [TOKEN_IDS["<start>"], TOKEN_IDS["<end>"]]
        assert int(tokens.mask.sum()) == 2


@pytest.mark.parametrize("prompt, word, closest", [
    ("a blod seven", "blod", "bold"),
    ("a bold sevn", "sevn", "seven"),
    ("an uprigth two", "uprigth", "upright"),
    ("一个胖的七", "胖", None),
    ("倾斜的七", "倾斜", "左倾"),
])
def test_unknown_words_are_refused_with_the_closest_and_the_vocabulary(prompt, word, closest):
    with pytest.raises(PromptError) as err:
        tokenize(prompt)
    message = str(err.value)
    assert "\n" not in message and message.startswith("prompt: unknown word")
    assert repr(word) in message and "the vocabulary: a, an, zero" in message and "九" in message
    assert (f"closest known word: {closest!r}" if closest else "(no known word is close)") in message


def test_bad_prompts_name_the_argument():
    with pytest.raises(PromptError, match="negative_prompt: unknown word 'x'"):
        tokenize("x", name="negative_prompt")
    with pytest.raises(PromptError, match="prompt must be a string"):
        split_words(7)
    with pytest.raises(PromptError, match="at most 10 fit"):
        tokenize("a " * 11)
    with pytest.raises(PromptError, match="one string or a list of n=3"):
        check_prompts(["a one", "a two"], 3)
    assert check_prompts("a one", 3) == ["a one"] * 3


def test_vocabulary_is_small_and_fixed():
    assert VOCAB[:3] == ("<pad>", "<start>", "<end>") and len(VOCAB) == len(set(VOCAB)) == 41


# ----------------------------------------------------------------------------- CLIP in miniature


def test_info_nce_matches_its_formula():
    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.normalize(torch.randn(5, 8, generator=g), dim=-1)
    txt = torch.nn.functional.normalize(torch.randn(5, 8, generator=g), dim=-1)
    scale = torch.tensor(math.log(10.0))
    logits = 10 * img @ txt.T
    by_hand = -(logits.diag() - logits.logsumexp(1)).mean() / 2 - (logits.diag() - logits.logsumexp(0)).mean() / 2
    assert float(info_nce(img, txt, scale)) == pytest.approx(float(by_hand), rel=1e-6)
    assert float(info_nce(img, txt, scale)) == pytest.approx(float(info_nce(txt, img, scale)), rel=1e-6)  # symmetric
    eye = torch.eye(5, 8)
    assert float(info_nce(eye, eye, torch.tensor(math.log(100.0)))) < 1e-3       # perfect pairs: loss → 0
    assert float(info_nce(eye, eye.roll(1, 0), torch.tensor(math.log(100.0)))) > 50  # every pair wrong


def test_text_encoder_shapes_pooling_and_causality():
    torch.manual_seed(0)
    clip = build_clip(dict(width=16, layers=1, heads=2, embed_dim=8, image_width=8)).eval()
    tokens = tokenize(["a bold seven", "七", ""])
    text_emb, pooled = clip.text(tokens)
    assert text_emb.shape == (3, CONTEXT_LENGTH, 16) and pooled.shape == (3, 16)
    assert torch.equal(pooled[0], text_emb[0, 4]) and torch.equal(pooled[1], text_emb[1, 2])  # the <end> token
    later = tokenize(["a bold two"])            # causal: the first three tokens cannot see the last word
    assert torch.allclose(clip.text(later)[0][0, :3], text_emb[0, :3], atol=1e-6)
    assert clip.encode_text(tokens).norm(dim=-1).allclose(torch.ones(3))


def test_train_clip_runs_and_records(digit_batch):
    images, labels = digit_batch
    data = caption_digits((images, labels))
    clip = build_clip(dict(width=16, layers=1, heads=2, embed_dim=8, image_width=8))
    record = train_clip(clip, data, steps=3, batch_size=8, progress=False, device="cpu")
    assert record.steps == 3 and set(record.history) == {"loss", "temperature", "batch_accuracy"}
    assert not clip.training and record.series("temperature")[-1] <= 100
    with pytest.raises(TypeError, match="data must be a CaptionedDigits"):
        train_clip(clip, images, steps=1)
    with pytest.raises(TypeError, match="model must be a CLIPMini"):
        train_clip(torch.nn.Linear(2, 2), data, steps=1)
    assert digit_prompts("zh")[7] == "一个七" and isinstance(clip, CLIPMini)
    best = retrieve(clip, ["a zero", "a bold one"], images, k=4)
    sims = similarities(clip, images, ["a zero", "a bold one"])
    assert best.shape == (2, 4) and torch.equal(best[1], sims[:, 1].topk(4).indices)
    assert torch.equal(retrieve(clip, "a bold one", images, k=4), best[1])
