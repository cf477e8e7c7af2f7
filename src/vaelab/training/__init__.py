"""Training: `config.TrainConfig`, the fit loop, checkpoints, torchrun, runtime and threads.

`config` is torch-free; the public path users import is `vaelab.train`.
"""
