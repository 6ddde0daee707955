"""Messaging: the outbox relay, broker adapters (RabbitMQ, in-process) and consumers."""
