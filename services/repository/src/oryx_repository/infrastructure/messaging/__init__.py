"""Messaging: routing table, outbox relay, brokers, consumers."""
