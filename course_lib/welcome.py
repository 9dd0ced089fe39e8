"""The course map, the environment check and the glossary (taught in notebook 00)."""

from __future__ import annotations

import platform
import sys

import torch

from .budget import get_budget
from .data import ring_of_gaussians, swiss_roll, two_moons
from .device import get_device
from .viz import new_figure

MIN_VERSIONS = {"torch": "2.2", "torchvision": "0.17", "ipywidgets": "7.7", "matplotlib": "3.7"}

# The landscape of AI painting: (year, family, milestone, the notebooks that teach it, the word those
# notebooks use for it — one for all, or one per notebook). A test checks that every notebook named here really mentions the milestone;
# an empty tuple means the course only places it on the map.
LANDSCAPE = [
    (2013, "VAE", "Variational autoencoder (Kingma & Welling)", ("07",), "Kingma"),
    (2014, "GAN", "GAN (Goodfellow et al.)", ("01", "02"), "Goodfellow"),
    (2015, "GAN", "DCGAN (Radford et al.)", ("02",), "DCGAN"),
    (2015, "Diffusion", "Diffusion models (Sohl-Dickstein et al.)", ("03",), "Sohl-Dickstein"),
    (2016, "Style transfer", "Neural style transfer (Gatys et al.)", ("06",), "Gatys"),
    (2016, "Autoregressive", "PixelCNN (van den Oord et al.)", (), "PixelCNN"),
    (2019, "GAN", "StyleGAN (Karras et al.)", (), "StyleGAN"),
    (2020, "Diffusion", "DDPM (Ho et al.)", ("03", "04"), "DDPM"),
    (2021, "Diffusion", "DDIM; cosine schedule", ("03", "04"), {"03": "cosine", "04": "DDIM"}),
    (2021, "Autoregressive", "DALL·E (Ramesh et al.)", (), "DALL·E"),
    (2021, "Diffusion", "SDEdit, RePaint: editing with a denoiser", ("09",), "SDEdit"),
    (2022, "Diffusion", "Classifier-free guidance", ("05",), "classifier-free"),
    (2022, "Text-to-image", "DALL·E 2, Stable Diffusion, Imagen", ("05",), "Stable Diffusion"),
]


def where_taught(notebooks: tuple) -> str:
    """How the landscape labels a milestone: ``notebook 01, 02`` or ``map only``."""
    return f"notebook {', '.join(notebooks)}" if notebooks else "map only"


FAMILY_COLORS = {
    "VAE": "#8c6d31",
    "GAN": "#d62728",
    "Diffusion": "#1f77b4",
    "Style transfer": "#2ca02c",
    "Autoregressive": "#9467bd",
    "Text-to-image": "#ff7f0e",
}

# Glossary: (English term, 中文, one-line meaning).
GLOSSARY = [
    ("Generative adversarial network (GAN)", "生成对抗网络", "a generator and a discriminator trained against each other"),
    ("Generator / discriminator", "生成器 / 判别器", "G turns noise z into images; D tells real from generated"),
    ("Minimax objective", "极小极大目标", "min_G max_D V(D, G), the game a GAN plays"),
    ("Mode collapse", "模式崩溃", "the generator covers only a few of the data's modes"),
    ("Diffusion model", "扩散模型", "learns to undo a gradual noising process"),
    ("Forward process / reverse process", "前向过程 / 反向过程", "adding noise step by step / removing it"),
    ("Noise schedule", "噪声调度", "the variances β_t of the forward steps"),
    ("Signal-to-noise ratio (SNR)", "信噪比", "ᾱ_t / (1 − ᾱ_t): how much image is left at step t"),
    ("Sampler (DDPM, DDIM)", "采样器", "the rule that turns noise into an image step by step"),
    ("Classifier-free guidance", "无分类器引导", "mixing conditional and unconditional predictions with weight w"),
    ("U-Net", "U 型网络", "the encoder–decoder with skip connections that predicts the noise"),
    ("Neural style transfer", "艺术风格迁移", "an image with one picture's content and another's style"),
    ("Gram matrix", "格拉姆矩阵", "feature correlations: the CNN's summary of style"),
    ("Convolutional neural network (CNN)", "卷积神经网络", "a network of learned image filters, such as VGG19"),
    ("Variational autoencoder (VAE)", "变分自编码器", "encodes images to a latent distribution and decodes samples"),
    ("Autoregressive model", "自回归模型", "generates an image one piece (pixel or token) at a time"),
    ("Latent space", "潜在空间", "the compact space where z (or a latent image) lives"),
    ("Text-to-image", "文本生成图像", "a text encoder conditions the generator, as in Stable Diffusion"),
]


def _version_ok(have: str, need: str) -> bool:
    def parts(v):
        out = []
        for piece in v.split("+")[0].split(".")[:3]:
            digits = "".join(ch for ch in piece if ch.isdigit())
            out.append(int(digits) if digits else 0)
        return out

    return parts(have) >= parts(need)


def environment_report() -> list[tuple[str, str, bool]]:
    """Rows (what, value, ok) describing Python, the libraries, the device and the budget."""
    import ipywidgets
    import matplotlib
    import torchvision

    versions = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "ipywidgets": ipywidgets.__version__,
        "matplotlib": matplotlib.__version__,
    }
    rows = [("python", f"{platform.python_version()} ({sys.platform})", sys.version_info >= (3, 10))]
    for name, version in versions.items():
        rows.append((name, version, _version_ok(version, MIN_VERSIONS[name])))
    device = get_device()
    detail = torch.cuda.get_device_name(0) if device.type == "cuda" else device.type
    rows.append(("device", detail, True))
    rows.append(("budget", get_budget(), True))
    return rows


def print_environment() -> bool:
    """Print the environment report; return True when every row is fine."""
    rows = environment_report()
    for what, value, ok in rows:
        mark = "ok " if ok else "OLD"
        need = f"  (need >= {MIN_VERSIONS[what]})" if not ok and what in MIN_VERSIONS else ""
        print(f"{mark} {what:<12} {value}{need}")
    return all(ok for _, _, ok in rows)


def plot_landscape():
    """A timeline of the families of AI painting, each milestone labelled with its notebook."""
    fig, ax = new_figure(figsize=(11, 5.2))
    families = list(FAMILY_COLORS)
    seen = dict.fromkeys(families, 0)
    last_year = {}  # (family, side) -> year of the last label on that side
    for year, family, milestone, notebooks, _ in LANDSCAPE:
        y = families.index(family)
        above = seen[family] % 2 == 0 and year != 2019  # alternate labels; keep StyleGAN clear of DDPM
        seen[family] += 1
        # a label closer than ~1.5 years to the last one on its side moves one label height further out
        far = year - last_year.get((family, above), -100) < 1.5
        last_year[family, above] = year
        offset = (9 + 20 * far) if above else -(10 + 20 * far)
        ax.scatter(year, y, s=90, color=FAMILY_COLORS[family], zorder=3)
        ax.annotate(
            f"{milestone}\n[{where_taught(notebooks)}]",
            (year, y),
            xytext=(0, offset),
            textcoords="offset points",
            ha="center",
            va="bottom" if above else "top",
            fontsize=7.5,
        )
    ax.set_yticks(range(len(families)), families)
    ax.set_xlim(2011.8, 2023.6)
    ax.set_ylim(-0.7, len(families) - 0.3)
    ax.set_xlabel("year")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("The landscape of AI painting, and where this course teaches each idea")
    return fig


def plot_toy_datasets(n: int = 2000, seed: int = 0):
    """The three toy 2-D datasets used for fast intuition: ring of 8 Gaussians, two moons, swiss roll."""
    g = torch.Generator().manual_seed(seed)
    sets = {
        "ring of 8 Gaussians": ring_of_gaussians(n, generator=g),
        "two moons": two_moons(n, generator=g),
        "swiss roll": swiss_roll(n, generator=g),
    }
    fig, axes = new_figure(1, 3, figsize=(10, 3.4))
    for ax, (name, pts) in zip(axes, sets.items()):
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5)
        ax.set_title(name)
        ax.set_aspect("equal")
    return fig


def glossary_markdown() -> str:
    """The glossary as a Markdown table (English, 中文, meaning)."""
    rows = ["| Term | 中文 | Meaning |", "| --- | --- | --- |"]
    rows += [f"| {en} | {zh} | {meaning} |" for en, zh, meaning in GLOSSARY]
    return "\n".join(rows)
