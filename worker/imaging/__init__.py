"""The worker's image work (Pillow): ``process_image`` turns a source into outputs and facts.

process.py   the stages of one job, in order
source.py    opening safely: formats, header limits, the decode budget, one decode
colour.py    embedded profiles to sRGB, modes to RGB(A)
metadata.py  EXIF facts and orientation, read without decoding
geometry.py  the box arithmetic of the fits, and the crop window each output reports
gravity.py   where a cover crop's window sits: compass points, a focus point, or auto
resize.py    the resize cascade, banded on a few threads
caption.py   the text drawn on the image
facts.py     dominant colours and a perceptual hash
encode.py    encoding outputs, no metadata ever written
budget.py    what a decode costs in memory
"""

from worker.imaging.process import ImageLimits, ImageReport, RenderedOutput, process_image

__all__ = ["ImageLimits", "ImageReport", "RenderedOutput", "process_image"]
