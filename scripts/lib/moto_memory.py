"""Keeps a long-running moto server's memory bounded (moto 5.2.x).

Cause of the growth (measured with moto_memory_probe.py): moto's `BaseModel.__new__` appends
every model object it ever creates to a class-level list, `cls.instances_tracked`, which only
`/moto-api/reset` clears. It exists for the moto-api dashboard (/moto-api/data.json) and for
S3's reset. `deepcopy` creates objects through `__new__` too, and moto's TransactWriteItems
deep-copies every table it touches (its rollback backup) on every call, so each transaction
leaked a full copy of each touched table (Table, its items' wrappers, its indexes): memory grew
as transactions x table size, about 2 MB per transaction on a 2,000-item table.

Containment: objects are no longer recorded (the dashboard lists no instances; S3's reset still
disposes every key it can reach through the buckets, and unreachable keys' buffers are freed by
the garbage collector). Set MOTO_SERVER_NO_MEMORY_FIXES=1 to run moto as shipped.
"""

import os


def install() -> None:
    if os.environ.get("MOTO_SERVER_NO_MEMORY_FIXES"):
        return
    from moto.core.common_models import BaseModel

    def untracked_new(cls, *args, **kwargs):
        # As BaseModel.__new__, minus `cls.instances_tracked.append(instance)`.
        return super(BaseModel, cls).__new__(cls)

    BaseModel.__new__ = untracked_new
