"""Facts about images: no I/O, no Pillow (the worker's Pillow code builds on these).

formats.py       every format read or written, and what is true of each: two tables
image_header.py  size and frames from the header, read without decoding
options.py       the options JSON Schema (the one source) and its validation
geometry.py      the box arithmetic of the fits: each output's size and crop window
cost.py          what a job will cost, and whether it is heavy
"""
