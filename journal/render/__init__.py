"""Runs as text for people: Markdown notes (run, markdown: the one user of markdown-it), the final
report (report), `journal list` lines and CSV/JSON rows (rows), export templates (template,
fields), an HTML page (html) and logs made safe to show (logtext). Renders; reads no commands."""
