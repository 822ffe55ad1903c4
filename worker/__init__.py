"""The Celery workers: image and text processing (Pillow lives only here)."""
