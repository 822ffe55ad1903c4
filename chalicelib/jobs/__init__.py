"""Jobs: the model, where their state and files live, and what keeps them moving.

model.py      statuses, allowed transitions, the record (pure)
store.py      job records in Redis: one hash per job, atomic transitions
storage.py    the S3 object store: key layout, puts and gets, presigned URLs
status.py     the status answer: the record plus presigned links to the outputs
contract.py   task names and payloads shared by the API and the workers
reconcile.py  finds jobs no task will ever finish and queues them again
batches.py    batch records in Redis: their jobs, the waiting ones, the ends; the answer
batch_feed.py feeds a batch's waiting jobs as its tenant's slots free; its report, once
"""
