"""Parallel batch production: worker processes (:mod:`.worker_pool`) that hand batches back
through shared memory (:mod:`.shared_memory`). Imported by PreCache when it starts workers."""
