"""The reading commands, one module each, each one function the CLI calls: listing (list), show,
grep, export, tail, diff (with codediff), and amend (note, tag: a user's changes to a record)."""
