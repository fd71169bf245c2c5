"""The write path: `journal new` (and a standalone `journal.start()`) puts a run on record.

recording (open the record, run, finish it) uses gitstate (the code state, through journal.git),
params (parameters from the command line), runner (the child, its output, signals; its keeper
outlives a killed wrapper; sinks are where the output goes), logmask (secrets out of the log),
patterns (metrics from the output) and hook (the wrapper's side of the Python start-up hook in
pyhook/, which runs in the command's own interpreter and imports nothing of journal).
"""
