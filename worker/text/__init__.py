"""Text analysis of a job's text (no Pillow here).

analysis.py        counts, language, keywords, sentiment and readability
langid_compact.py  py3langid's language model compacted, with identical answers
"""
