"""Queue: the controller that runs jobs from a backend (memory, SQLite, Celery)."""

from .controller import QueueController

__all__ = ["QueueController"]
