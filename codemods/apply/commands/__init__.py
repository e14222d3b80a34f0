"""One codemod per plan task.

Each module has a one-line ``DESCRIPTION`` and ``run(context, task)``, which reads
files through ``context.workspace`` and records its edits there; none touches
the disk itself.
"""
