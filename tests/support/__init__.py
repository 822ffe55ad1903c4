"""What the tests share: fakes, generated images, fault injection, the live stack's fixtures.

fakes.py           the backends in this process: the real Redis code on fakeredis,
                   fakes of S3 and the queue
imagegen.py        test images made in code, every format and oddity
iccgen.py          ICC profiles made in code (colour tests)
subjects.py        the hand-marked subjects of the crop photos (tests/corpus/subjects)
faults.py          a fault-injecting S3 proxy
stack_fixtures.py  the live stack's pytest fixtures (integration and reliability tiers)
helpers.py         assertions and recorders the tests share
"""
