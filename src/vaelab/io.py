"""Public path of the run-directory files (documented in the README); home: `vaelab.runs.files`."""

from vaelab.runs.files import load_model, read_config, read_metrics, save_model

__all__ = ["load_model", "read_config", "read_metrics", "save_model"]
