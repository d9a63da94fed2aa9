"""SimCLR's hyper-parameters in one place: the backbones, the augmentation names and sets, and
`SimCLRConfig` (the config block `pretrain:`).

A key left unset takes its backbone's default (`BACKBONE_DEFAULTS`): the small CNN's are the set
measured on a 2-core CPU (bench/results/simclr.md), the ResNets' the paper's CIFAR-10 setup. The
schema gives the `pretrain:` keys no defaults (a filled default would hide which keys the user
set); its descriptions quote these values, and a test holds them to this file. Nothing here
imports torch: the Snakemake side reads it at start-up, so a bad backbone or key fails before
any job runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..core.errors import LraError

BACKBONES = ("cnn", "resnet18", "resnet34", "resnet50")

# lra.embed.augment's operations, and the named sets of them.
AUGMENTATIONS = ("crop", "flip", "colour", "grey", "affine", "stroke", "contrast")
SETS = {"paper": ("crop", "flip", "colour", "grey"), "shapes": ("affine", "stroke", "contrast")}


def backbone_of(spec: str) -> str:
    """`simclr` → cnn, `simclr:resnet18` → resnet18; anything else is one clear error."""
    name, sep, rest = spec.partition(":")
    backbone = rest if sep else "cnn"
    if name != "simclr" or backbone not in BACKBONES:
        raise LraError(f"config key encoder: {spec!r}: unknown SimCLR backbone {backbone!r}; use simclr "
                       "(a small CNN for a CPU), simclr:resnet18, simclr:resnet34 or simclr:resnet50 (for a GPU)")
    return backbone


def operations(augment) -> tuple[str, ...]:
    """A set name or a list of operation names → the operations, checked."""
    names = SETS.get(augment) if isinstance(augment, str) else augment
    if names is None or isinstance(names, str) or not names or any(n not in AUGMENTATIONS for n in names):
        raise LraError(f"config key pretrain.augment: {augment!r}; use a set ({', '.join(SETS)}) or a list of "
                       f"operations from {', '.join(AUGMENTATIONS)}")
    return tuple(names)


# Defaults that depend on the backbone (a key left unset, or None, takes them):
# - cnn, for a CPU: measured on glyphs and digits (bench/results/simclr.md): the `shapes` views,
#   τ 0.2, 15 epochs of batch 128 train in ~5 min on a busy 2-core machine.
# - the ResNets, for a GPU: the paper's CIFAR-10 setup (appendix B.9) where torch allows: its
#   views, τ 0.5, batch 512, 500 epochs, 10 warm-up epochs; Adam at 1e-3 (weight decay 1e-6)
#   stands in for LARS, which torch lacks. Not measured here (no GPU).
BACKBONE_DEFAULTS = {
    "cnn": {"augment": "shapes", "temperature": 0.2, "batch_size": 128, "epochs": 15, "warmup_epochs": 1},
    "resnet": {"augment": "paper", "temperature": 0.5, "batch_size": 512, "epochs": 500, "warmup_epochs": 10},
}


@dataclass
class SimCLRConfig:
    backbone: str = "cnn"  # cnn, resnet18, resnet34, resnet50 (from the encoder spec)
    image_size: int = 32  # images are resized to this square
    width: int = 32  # the small CNN's first channels (features: 4 × width); ignored by the ResNets
    projection_dim: int = 128  # output of the head g (the paper: 128)
    augment: str | list | None = None  # a set (paper, shapes) or a list of operations (AUGMENTATIONS)
    epochs: int | None = None
    batch_size: int | None = None  # images per step (2 × batch_size views)
    temperature: float | None = None  # τ of NT-Xent
    optimizer: str = "adam"  # adam (AdamW), or sgd (momentum 0.9)
    lr: float = 1e-3  # peak learning rate: linear warm-up, then cosine decay to 0 at the last epoch
    warmup_epochs: int | None = None
    weight_decay: float = 1e-6
    amp: bool = True  # bf16 autocast, on CUDA only
    num_workers: int | None = None  # DataLoader workers making the views (None: the job's threads - 1, at most 8)
    device: str = "auto"  # the top-level config key `device`
    seed: int = 0  # the dataset's split seed (lra.workflow.pretrain_params)

    def __post_init__(self):
        defaults = BACKBONE_DEFAULTS["cnn" if self.backbone == "cnn" else "resnet"]
        for key, value in defaults.items():
            if getattr(self, key) is None:
                setattr(self, key, value)

    @classmethod
    def from_dict(cls, d: dict) -> "SimCLRConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise LraError(f"config key pretrain.{unknown[0]}: unknown; known keys: {', '.join(sorted(known))}")
        cfg = cls(**d)
        cfg.check()
        return cfg

    def check(self) -> None:
        if self.backbone not in BACKBONES:
            backbone_of(f"simclr:{self.backbone}")
        operations(self.augment)
        for key in ("image_size", "width", "projection_dim", "epochs", "batch_size"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise LraError(f"config key pretrain.{key}: {getattr(self, key)!r}; use a positive integer")
        if self.batch_size < 2:
            raise LraError("config key pretrain.batch_size: NT-Xent needs at least 2 images a step")
        if not isinstance(self.temperature, (int, float)) or not self.temperature > 0:
            raise LraError(f"config key pretrain.temperature: {self.temperature!r}; use a positive number "
                           "(the paper tried 0.05-1)")
        if self.optimizer not in ("adam", "sgd"):
            raise LraError(f"config key pretrain.optimizer: {self.optimizer!r}; use adam or sgd")

    def plain(self) -> dict:
        return asdict(self)


# Fields set from elsewhere than the `pretrain:` block: the encoder spec and top-level keys.
TOP_LEVEL = ("backbone", "device", "seed")
# Keys of the `pretrain:` block that change how the job runs, not what it learns (views are seeded
# per item, so the workers cannot change them): never rerun a job, never in the weights file.
RUN_KEYS = {"checkpoint_minutes": 5, "num_workers": None}


def pretrain_params(backbone: str, pretrain: dict | None = None, seed: int = 0, device: str = "auto") -> dict:
    """The pretrain stage's result-changing params: the user's `pretrain:` keys over the backbone's
    defaults, without RUN_KEYS, with the seed and device."""
    user = {k: v for k, v in (pretrain or {}).items() if k not in RUN_KEYS}
    cfg = SimCLRConfig.from_dict({**user, "backbone": backbone, "seed": int(seed), "device": device})
    return {k: v for k, v in cfg.plain().items() if k not in RUN_KEYS and k != "backbone"}
