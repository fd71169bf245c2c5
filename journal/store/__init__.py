"""Storage: the `.journal/` folder and everything in it.

Where it is (paths), how files are written (files: atomic, exclusive), record files (records: the
one reader, creation, the one locked edit; lock; toml: the writer), settings (config), the side
file a script writes through the API (sidefile), a run's log and patch (runfiles), the derived
SQLite index (index), and what readers select runs with (filters, source: RunSource, REFs).
`journal init` and the export template's file (starter). Imports only record, errors and text.
"""
