"""The process table's restart policy, on a fake clock and fake processes (unit test).

The real restarts (kill -9 of a worker, a stalled RTSP capture) are in test_watch.py and test_rtsp.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stream.capture import EXIT_ENDED, EXIT_UNUSABLE
from stream.config import StreamSection
from stream.processes import ProcessTable, exit_text, worker_count


@dataclass
class FakeProcess:
    exitcode: int | None = None
    pid: int = 1
    killed: bool = False

    def start(self) -> None: ...

    def is_alive(self) -> bool:
        return self.exitcode is None

    def kill(self) -> None:
        self.killed, self.exitcode = True, -9

    def join(self, timeout: float | None = None) -> None: ...


@dataclass
class FakeContext:
    started: list[FakeProcess] = field(default_factory=list)

    def Process(self, **_: object) -> FakeProcess:  # noqa: N802 (multiprocessing's name)
        self.started.append(FakeProcess())
        return self.started[-1]


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def table(kind: str = "worker", **settings: float) -> tuple[ProcessTable, FakeContext, Clock, list[str]]:
    ctx, clock, lines = FakeContext(), Clock(), []
    t = ProcessTable(StreamSection(**settings), ctx, lines.append, clock)
    name = "w0" if kind == "worker" else "cam"
    t.add(name, kind, print, None, [name])
    t.start()
    return t, ctx, clock, lines


def crash(t: ProcessTable, clock: Clock, after_s: float, stalled=lambda c, now: "") -> None:
    clock.t += after_s
    t.children[0].proc.exitcode = 1
    t.check(stalled)


def test_the_restart_budget_is_a_sliding_window_not_a_lifetime():
    t, ctx, clock, _ = table(max_restarts=2, restart_window_s=600)
    for _ in range(10):  # a crash every 400 s: never more than 2 in any 600 s
        crash(t, clock, 400.0)
    assert not t.children[0].done and t.children[0].restarts == 10 and len(ctx.started) == 11


def test_a_worker_past_its_budget_is_given_up_and_the_run_has_failed():
    t, ctx, clock, lines = table(max_restarts=2, restart_window_s=600)
    for _ in range(3):
        crash(t, clock, 1.0)
    assert t.children[0].outcome == "gave up" and t.failed() and t.finished()
    assert "out of restarts, giving up" in lines[-1] and "exit code 1" in lines[-1]


def test_a_capture_past_its_budget_goes_offline_and_is_tried_again_later():
    t, ctx, clock, lines = table("capture", max_restarts=1, restart_window_s=600, offline_retry_s=300)
    crash(t, clock, 1.0)
    crash(t, clock, 1.0)
    child = t.children[0]
    assert child.retry_at is not None and t.stats()["cam"]["state"] == "offline" and not child.done
    assert "trying again in 300 s" in lines[-1]
    clock.t += 299.0
    t.check(lambda c, now: "")
    assert len(ctx.started) == 2  # still resting
    clock.t += 2.0
    t.check(lambda c, now: "")
    assert len(ctx.started) == 3 and child.retry_at is None and t.stats()["cam"]["state"] == "running"


def test_stall_restarts_are_counted_apart_and_cost_no_budget():
    t, ctx, clock, lines = table("capture", max_restarts=1)
    for _ in range(5):
        clock.t += 60.0
        t.check(lambda c, now: "no frame for 60 s")
    child = t.children[0]
    assert child.stalls == 5 and child.restarts == 5 and len(child.crashes) == 0
    assert all("no frame for" in line for line in lines) and not any("None" in line for line in lines)


def test_ended_and_unusable_children_are_not_restarted():
    t, ctx, clock, _ = table("capture")
    t.children[0].proc.exitcode = EXIT_ENDED
    t.check(lambda c, now: "")
    assert t.children[0].outcome == "ended" and len(ctx.started) == 1 and t.finished() and not t.failed()
    w, wctx, _, lines = table("worker")
    w.children[0].proc.exitcode = EXIT_UNUSABLE
    w.check(lambda c, now: "")
    assert w.children[0].outcome == "unusable" and w.failed() and "cannot run" in lines[-1]


def test_exit_text_names_signals():
    assert exit_text(-9) == "signal SIGKILL" and exit_text(1) == "exit code 1"


def test_a_hung_worker_is_restarted_as_a_stall_not_a_crash():
    t, ctx, clock, lines = table("worker", stall_timeout_s=10)
    clock.t += 25.0  # loading its model: 3x the timeout before its first report
    t.check(lambda c, now: "")
    assert len(ctx.started) == 1
    t.heard_from("w0", clock.t)
    clock.t += 9.0
    t.check(lambda c, now: "")
    assert len(ctx.started) == 1
    clock.t += 2.0  # 11 s without a report: hung (SIGSTOP, a deadlock)
    t.check(lambda c, now: "")
    child = t.children[0]
    assert len(ctx.started) == 2 and ctx.started[0].killed and child.stalls == 1 and not child.crashes
    assert lines[-1] == "worker w0: no stats for 11 s, restarting it"


def test_auto_workers_use_every_core_the_captures_leave_at_most_one_per_stream(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)))
    assert worker_count("auto", 3) == 3 and worker_count("auto", 12) == 8  # 12 captures leave 7.2 cores
    assert worker_count("auto", 40) == 6  # 40 captures take 2.4 cores: 5.55 left
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    assert worker_count("auto", 1) == 1 and worker_count("auto", 3) == 2
    assert worker_count("auto", 8) == 2  # 1.47 cores left: one worker would use one of them
    assert worker_count("auto", 17) == 1  # 17 captures take about one of the 2 cores
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0})
    assert worker_count("auto", 4) == 1  # one core: still one worker
    assert worker_count(5, 1) == 5  # a number is taken as it is
