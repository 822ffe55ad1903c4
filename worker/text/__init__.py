"""Text analysis of a job's text (no Pillow here).

analysis.py        counts, language, keywords, sentiment and readability
languages.py       the languages answered (ISO 639-1), the confidence a length needs, CJK by script
langid_compact.py  py3langid's language model compacted, with identical answers
"""
