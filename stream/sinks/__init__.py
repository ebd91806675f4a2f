"""The integrations of `dfd watch`: MQTT, webhooks (both fed like the database, from their own
spool) and Prometheus metrics. `open_integrations` starts those the config turns on."""
