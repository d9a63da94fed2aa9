"""SimCLR's encoders f(·): image → pooled feature h (the head g(·) sits on top during training only).

- `cnn`: a small 7-conv network for a CPU: channels w, w | 2w, 2w | 4w, 4w | 4w with a 2×2
  max-pool between the groups, each conv 3×3 + BatchNorm + ReLU, global average pool → 4w features.
- `resnet18`, `resnet34`, `resnet50` (torchvision, random weights): the paper's backbones. At 64
  pixels or less they take the paper's CIFAR stem (a 3×3 stride-1 first conv and no max-pool,
  arXiv 2002.05709 appendix B.9); larger images keep the ImageNet stem. The classifier is dropped:
  512 features (2,048 for resnet50).
"""

from __future__ import annotations

from torch import nn

CIFAR_STEM_MAX = 64  # image sizes up to this get the CIFAR stem


def _conv(a: int, b: int) -> list[nn.Module]:
    return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]


def small_cnn(width: int = 32) -> tuple[nn.Module, int]:
    w = width
    layers = [*_conv(3, w), *_conv(w, w), nn.MaxPool2d(2),
              *_conv(w, 2 * w), *_conv(2 * w, 2 * w), nn.MaxPool2d(2),
              *_conv(2 * w, 4 * w), *_conv(4 * w, 4 * w), nn.MaxPool2d(2),
              *_conv(4 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), 4 * w


def resnet(name: str, image_size: int) -> tuple[nn.Module, int]:
    import torchvision

    net = getattr(torchvision.models, name)(weights=None)
    if image_size <= CIFAR_STEM_MAX:
        net.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    dim = net.fc.in_features
    net.fc = nn.Identity()
    return net, dim


def build(name: str, image_size: int, width: int = 32) -> tuple[nn.Module, int]:
    """(encoder module, feature dimension) of backbone `name` (one of lra.embed.config.BACKBONES)."""
    return small_cnn(width) if name == "cnn" else resnet(name, image_size)
