"""`journal sync`: the journal exchanged with other machines through a git remote.

The flow, in the order it happens (exchange.py runs it):

    repo.py     the repository's side: the remote, fetch and push of `refs/journal/runs`,
                trees built from the journal folder with a private index, blobs read back
    travel.py   which files of the journal folder travel (records, logs, patches, per-step
                metrics), the size cap, and the marker a file that stayed behind leaves
    merge.py    two copies of one run made one: the owner's fields, every amendment, tags by
                their changes in time order; the same result on every machine
    exchange.py fetch, merge into the folder, commit, push; again when another machine pushed
                in between

Nothing here touches HEAD, the index, the work tree, a branch, a tag, a remote-tracking branch
or git config: the only refs written are `refs/journal/runs` on the remote and
`refs/journal/remotes/<remote>/{runs,base}` here.
"""
