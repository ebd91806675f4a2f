"""The web page of `dfd watch --web` and `dfd web`: live view, per-stream numbers, alerts and their evidence."""
