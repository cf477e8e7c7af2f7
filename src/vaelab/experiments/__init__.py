"""The experiments the lesson is built from: arrays and models in, typed results out.

They write no files and draw no figures; `vaelab.report` does both.
"""
