"""Run directories: the files (safetensors + JSON), who may write them, train and resume.

`run.train_run` goes data spec → data → model → fit → run directory;
`run.resume_run` continues one; `run.load_run` opens one; `files` reads and
writes each file; `directory` decides who may write where.
"""
