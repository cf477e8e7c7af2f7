"""Public path of the models (documented in the README); their home is `vaelab.core.models`."""

from vaelab.core.config import ModelConfig
from vaelab.core.models import (
    VAE,
    Autoencoder,
    Model,
    ModelOutput,
    build_model,
    linear_vae_config,
)

__all__ = ["VAE", "Autoencoder", "Model", "ModelConfig", "ModelOutput", "build_model", "linear_vae_config"]
