"""A tokenizer with a small fixed vocabulary, in English and Chinese (notebook 08).

A text encoder reads numbers, not letters: the tokenizer cuts a prompt into words and looks each
one up in a vocabulary. Stable Diffusion's CLIP tokenizer knows 49,408 sub-word pieces and pads
every prompt to 77 tokens; the course's knows the few dozen words its captions use
(:mod:`.captions`), and pads to :data:`CONTEXT_LENGTH` tokens:

    "a bold seven"  →  <start> a bold seven <end> <pad> <pad> …
    ids                  1     3   …          2     0     0
    mask                 T     T   T    T     T     F     F   (padding is masked out downstream)

* English is split at spaces (lower case, punctuation dropped); a few synonyms are accepted
  (*thick* for *bold*, *big* for *large*, digits written as 0–9).
* Chinese has no spaces: a run of Chinese characters is cut by **longest match** against the
  vocabulary, so 一个粗的七 becomes 一个 / 粗 / 的 / 七 (and 一个一, "a one", becomes 一个 / 一).
* A word outside the vocabulary is refused in one line that names it, the closest known word and
  the vocabulary; the model has never seen it, and guessing would silently draw something else.
* The **empty prompt** is just <start> <end>: it means "anything", and it is what the denoiser
  learned under caption dropout — the ∅ of classifier-free guidance.
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache
from typing import NamedTuple

import torch

from .captions import ARTICLE_ZH, ATTRIBUTES, DIGITS_EN, DIGITS_ZH, LINK_ZH

PAD, START, END = "<pad>", "<start>", "<end>"
SPECIAL = (PAD, START, END)
WORDS_EN = ("a", "an", *DIGITS_EN, *(w for words in ATTRIBUTES.values() for w in words))
WORDS_ZH = (ARTICLE_ZH, LINK_ZH, *DIGITS_ZH, *(w for words in ATTRIBUTES.values() for w in words.values()))
#: The whole vocabulary, in id order: id 0 is padding, 1 and 2 start and end every prompt.
VOCAB = (*SPECIAL, *WORDS_EN, *WORDS_ZH)
TOKEN_IDS = {word: i for i, word in enumerate(VOCAB)}
#: Accepted spellings that are read as a word of the vocabulary.
SYNONYMS = {"thick": "bold", "big": "large", "tiny": "small", "slim": "thin",
            **{str(d): word for d, word in enumerate(DIGITS_EN)}}
#: Tokens per prompt, <start> and <end> included (Stable Diffusion: 77).
CONTEXT_LENGTH = 12
MAX_WORDS = CONTEXT_LENGTH - 2

_CJK = re.compile(r"[\u3400-\u9fff]")
_SEPARATORS = re.compile(r"[\s,.;:!?，。；：！？、]+")
_LONGEST_ZH = max(len(w) for w in WORDS_ZH)


class PromptError(ValueError):
    """A prompt the tokenizer cannot read (an unknown word, too many words, not a string)."""


class Tokens(NamedTuple):
    """A batch of tokenized prompts: ``ids`` (B, L) int64 and ``mask`` (B, L) bool, True on real tokens."""

    ids: torch.Tensor
    mask: torch.Tensor

    def to(self, device) -> Tokens:
        return Tokens(self.ids.to(device), self.mask.to(device))


def _vocabulary_text() -> str:
    return ", ".join(WORDS_EN) + "; " + ", ".join(WORDS_ZH)


def _unknown(word: str, name: str) -> PromptError:
    if _CJK.match(word):  # Chinese: a known word that shares a character with it, if any
        known = [w for w in WORDS_ZH if set(w) & set(word)]
    else:
        known = list(WORDS_EN) + list(SYNONYMS)
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.0)
    hint = f" (closest known word: {SYNONYMS.get(close[0], close[0])!r})" if close else " (no known word is close)"
    return PromptError(f"{name}: unknown word {word!r}{hint}; the vocabulary: {_vocabulary_text()}")


def _split_chinese(run: str, name: str) -> list[str]:
    """Cut a run of Chinese characters into vocabulary words, longest match first."""
    words, i = [], 0
    while i < len(run):
        for size in range(min(_LONGEST_ZH, len(run) - i), 0, -1):
            if run[i:i + size] in TOKEN_IDS:
                words.append(run[i:i + size])
                i += size
                break
        else:  # report the unknown stretch up to where a known word starts again
            end = next((j for j in range(i + 1, len(run))
                        if any(run[j:j + k] in TOKEN_IDS for k in range(1, _LONGEST_ZH + 1))), len(run))
            raise _unknown(run[i:end], name)
    return words


@lru_cache(maxsize=4096)
def _words(prompt: str, name: str) -> tuple[str, ...]:
    words = []
    for chunk in _SEPARATORS.split(prompt.strip().lower()):
        if not chunk:
            continue
        chunk = SYNONYMS.get(chunk, chunk)
        if chunk in TOKEN_IDS and chunk not in SPECIAL:
            words.append(chunk)
            continue
        # mixed runs such as "一个bold七": Chinese runs by longest match, the rest as words
        for part in re.findall(r"[\u3400-\u9fff]+|[^\u3400-\u9fff]+", chunk):
            if _CJK.match(part):
                words.extend(_split_chinese(part, name))
            else:
                part = SYNONYMS.get(part, part)
                if part not in TOKEN_IDS or part in SPECIAL:
                    raise _unknown(part, name)
                words.append(part)
    if len(words) > MAX_WORDS:
        raise PromptError(f"{name} has {len(words)} words; at most {MAX_WORDS} fit the text encoder's "
                          f"{CONTEXT_LENGTH} tokens: {prompt!r}")
    return tuple(words)


def split_words(prompt: str, name: str = "prompt") -> list[str]:
    """The vocabulary words of ``prompt`` (synonyms replaced); an unknown word raises :class:`PromptError`."""
    if not isinstance(prompt, str):
        raise PromptError(f"{name} must be a string, got {type(prompt).__name__}")
    return list(_words(prompt, name))


def check_prompt(prompt, name: str = "prompt") -> str:
    """Return ``prompt`` if the tokenizer can read it; otherwise raise :class:`PromptError` in one line."""
    split_words(prompt, name)
    return prompt


def check_prompts(prompts, n: int | None = None, name: str = "prompt") -> list[str]:
    """``prompts`` (a string, or a list of ``n`` strings) as a checked list of ``n`` prompts."""
    if isinstance(prompts, str):
        check_prompt(prompts, name)
        return [prompts] * (1 if n is None else n)
    if not isinstance(prompts, (list, tuple)) or not prompts:
        raise PromptError(f"{name} must be a string or a non-empty list of strings, got {prompts!r}")
    if n is not None and len(prompts) != n:
        raise PromptError(f"{name} must be one string or a list of n={n} strings, got a list of {len(prompts)}")
    return [check_prompt(p, f"{name}[{i}]") for i, p in enumerate(prompts)]


def tokenize(prompts, name: str = "prompt") -> Tokens:
    """Token ids and padding mask of one prompt or a list of prompts: (B, :data:`CONTEXT_LENGTH`) each."""
    prompts = check_prompts(prompts, name=name)
    ids = torch.zeros(len(prompts), CONTEXT_LENGTH, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        seq = [TOKEN_IDS[START], *(TOKEN_IDS[w] for w in _words(prompt, name)), TOKEN_IDS[END]]
        ids[row, :len(seq)] = torch.tensor(seq)
    return Tokens(ids, ids != TOKEN_IDS[PAD])


def decode(ids: torch.Tensor) -> list[str]:
    """The tokens of one row of ids as words (padding left out): for labelling attention maps."""
    return [VOCAB[i] for i in ids.tolist() if i != TOKEN_IDS[PAD]]


def to_english(prompt: str) -> str:
    """The prompt with its Chinese words put into English (for figures on machines without a Chinese font):
    "一个粗的七" → "a bold seven". English words stay as they are; 的 only links, so it goes."""
    from .captions import VOWEL_SOUNDS

    english = {ARTICLE_ZH: "a", LINK_ZH: "", **dict(zip(DIGITS_ZH, DIGITS_EN)),
               **{zh: en for words in ATTRIBUTES.values() for en, zh in words.items()}}
    words = [english.get(w, w) for w in split_words(prompt)]
    words = [w for w in words if w]
    for i, w in enumerate(words[:-1]):  # "a upright" → "an upright", "an one" stays as written
        if w in ("a", "an") and words[i + 1] in VOWEL_SOUNDS:
            words[i] = "an"
    return " ".join(words)
