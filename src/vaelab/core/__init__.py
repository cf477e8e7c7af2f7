"""The model core: objectives, likelihoods, networks, the models, log p(x) and pPCA.

Everything here works on tensors and configs; nothing reads or writes files.
"""

from vaelab.core.models import VAE, Autoencoder, ModelConfig, ModelOutput, build_model

__all__ = ["VAE", "Autoencoder", "ModelConfig", "ModelOutput", "build_model"]
