"""The worker's image work (Pillow): ``process.process_image`` makes a source's outputs and facts.

The box arithmetic of the fits (each output's size and crop window) is pure and
shared with the cost model: ``chalicelib/media/geometry.py``.

process.py   the stages of one job, in order
source.py    opening safely: formats, header limits, the decode budget, one decode
png.py       PNG's strict pre-check (CRCs, IEND, text caps, APNG rules) and completeness
png_decode.py  PNG through libspng, whole or in bands shrunk as they decode; else Pillow
spng.py      libspng's C API through pyspng's extension (fenced in worker/upstream.py)
colour.py    embedded profiles to sRGB, modes to RGB(A)
metadata.py  EXIF facts and orientation, read without decoding
gravity.py   where a cover crop's window sits: compass points, a focus point, or auto
resize.py    the resize cascade, banded on a few threads
caption.py   the text drawn on the image
facts.py     dominant colours and a perceptual hash
encode.py    encoding outputs, no metadata ever written
budget.py    what a decode costs in memory
"""
