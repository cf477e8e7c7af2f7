"""The model core: configs, objectives, likelihoods, networks, models, log p(x), pPCA, inference.

Everything here works on tensors and configs and reads or writes no files.
`config` is torch-free, so the command line can read its choices cheaply; the
public paths users import are `vaelab.models` and `vaelab.VAE`.
"""
