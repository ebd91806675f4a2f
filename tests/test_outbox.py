"""A worker's alert events leave in order; a new alert's evidence is written off the inference loop."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from stream.evidence import EvidenceWriter
from stream.outbox import AlertOutbox
from tests.test_alerts_contract import lifecycle


class GatedWriter(EvidenceWriter):
    """The real writer, held at a gate so the test decides when the evidence is written."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gate = threading.Event()

    def save(self, *args, **kwargs):
        self.gate.wait(10)
        return super().save(*args, **kwargs)


def evidence() -> tuple:
    return np.zeros((120, 160, 3), np.uint8), [np.zeros((64, 64, 3), np.uint8)] * 4, 15.0


def test_later_events_wait_behind_a_new_alert_whose_evidence_is_being_written(tmp_path):
    sent = []
    writer = GatedWriter(tmp_path)
    box = AlertOutbox(writer, sent.append)
    new, update, end = lifecycle("door", updates=1)
    box.put(new, evidence())  # returns at once: the loop goes on while the evidence is written
    box.put(update)
    box.put(end)
    assert sent == []
    writer.gate.set()
    deadline = time.monotonic() + 10
    while len(sent) < 3 and time.monotonic() < deadline:
        box.flush()
        time.sleep(0.01)
    assert [e.kind for e in sent] == ["new", "update", "end"]
    assert sorted(sent[0].evidence) == ["clip", "face", "frame"] and Path(sent[0].evidence["clip"]).stat().st_size
    box.close(1.0)


def test_a_failed_write_is_said_in_the_event_and_the_alert_still_goes_out(tmp_path):
    sent = []
    (tmp_path / "door").write_text("a file where the stream's folder should be")
    box = AlertOutbox(EvidenceWriter(tmp_path), sent.append)
    box.put(lifecycle("door", updates=0)[0], evidence())
    box.close(10.0)
    assert len(sent) == 1 and "File exists" in sent[0].details["evidence_error"]


def test_at_stop_evidence_still_being_written_does_not_hold_the_events(tmp_path):
    sent = []
    box = AlertOutbox(GatedWriter(tmp_path), sent.append)  # the gate never opens: a hung disk
    new, end = lifecycle("door", updates=0)
    box.put(new, evidence())
    box.put(end)
    box.close(0.2)
    assert [e.kind for e in sent] == ["new", "end"]
    assert sent[0].details["evidence_error"] == "not written before the worker stopped"
