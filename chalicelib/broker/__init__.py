"""The broker side shared by the API and the workers (Celery over Redis, by task name).

producer.py      sends tasks by name over a reused broker connection
inspection.py    what waits in the broker: kombu's Redis layout, read
health.py        the queue's health as numbers: length, oldest job's age, dead letters
dead_letters.py  messages that can never succeed, kept for an operator to replay
workers.py       what the workers say about themselves (their imaging engine), for health
"""
