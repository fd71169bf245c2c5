"""The write path: `journal new` (and a standalone `journal.start()`) puts a run on record.

recording (open the record, run, finish it) uses gitstate (the code state, through journal.git),
params (parameters from the command line), runner (the child, its output, signals), logmask
(secrets out of the log) and patterns (metrics from the output).
"""
