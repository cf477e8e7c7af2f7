"""Reports: results written to disk (JSON + figures), the figures, and the explainer page."""
