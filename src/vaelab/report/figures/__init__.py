"""Figures: thin matplotlib layers over the numbers that experiments return.

Each module here takes result dataclasses (plain numbers) and returns
`matplotlib.figure.Figure` objects built without pyplot, so there is no global
state and no display backend. Nothing in this package runs an experiment.
"""
