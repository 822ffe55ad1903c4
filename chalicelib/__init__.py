"""Code shared by the API (Lambda) and the workers; never imports Pillow or worker code."""
