"""Integrations for doors and building systems: each access decision is delivered to signed webhooks
(HTTP POST, JSON, HMAC-SHA256 header) and MQTT brokers (paho-mqtt, QoS 1).

Deliveries go through the store's outbox (db/outbox.py): one row per (event, target), written in the
same transaction as the event. :class:`core.integrations.worker.DeliveryWorker` delivers them from a
background thread, per target in event order, retrying with capped exponential backoff. Qt-free.
"""
