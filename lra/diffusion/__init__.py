"""LRA diffusion over label vectors: schedule, denoiser, training loop and DDIM sampler."""

from .model import Denoiser
from .sample import ddim_sample, predict
from .schedule import CosineSchedule, ddim_timesteps
from .train import TrainConfig, candidates, train

__all__ = ["CosineSchedule", "Denoiser", "TrainConfig", "candidates", "ddim_sample",
           "ddim_timesteps", "predict", "train"]
