"""`gradfix server`: the Language Server Protocol on stdio, for editors (needs the `server` extra: pygls).

- `documents.py` — a Python file or a notebook as the editor holds it, and positions and edits in the editor's terms;
- `project.py` — what is kept warm: the index of Keras classes across the workspace, and checking a document with
  its nearest configuration through the engine (`process_source`), as the CLI does;
- `server.py` — the protocol: diagnostics, quick fixes, fix-all, hover, notebooks, watched files.
"""
