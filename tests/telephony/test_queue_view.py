"""The live queue view, fed a replayed trace of Asterisk 22 queue events."""

from __future__ import annotations

from ivr.operator_queues import QueueView
from telephony.ami.protocol import AmiMessage


def msg(**headers: str) -> AmiMessage:
    return AmiMessage(tuple(headers.items()))


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def test_refresh_then_events():
    clock = Clock()
    view = QueueView(clock)
    view.reset([
        msg(Event="QueueParams", Queue="operators", Calls="1"),
        msg(Event="QueueMember", Queue="operators", Name="PJSIP/operator1", Location="PJSIP/operator1",
            StateInterface="PJSIP/operator1", Status="5", Paused="0"),
        msg(Event="QueueMember", Queue="operators", Name="PJSIP/operator2", Location="PJSIP/operator2",
            StateInterface="PJSIP/operator2", Status="1", Paused="0"),
        msg(Event="QueueEntry", Queue="operators", Position="1", Channel="Local/a;1", CallerIDNum="0311", Wait="12"),
        msg(Event="QueueSummary", Queue="operators", LoggedIn="1", Available="1", Callers="1"),
        msg(Event="QueueSummary", Queue="empty", LoggedIn="0", Available="0", Callers="0"),
    ])
    state = view.snapshot()["operators"]
    assert (state.logged_in, state.available) == (1, 1)
    assert [(c.position, c.caller, c.channel, c.wait_seconds) for c in state.callers] == [(1, "0311", "Local/a;1", 12.0)]
    assert view.snapshot()["empty"].callers == ()

    clock.now += 3
    view.apply(msg(Event="QueueCallerJoin", Queue="operators", Position="2", Count="2", Channel="Local/b;1",
                   CallerIDNum="0322"))
    view.apply(msg(Event="QueueMemberStatus", Queue="operators", Interface="PJSIP/operator2",
                   StateInterface="PJSIP/operator2", Status="2", Paused="0"))
    state = view.snapshot()["operators"]
    assert [(c.position, c.caller) for c in state.callers] == [(1, "0311"), (2, "0322")]
    assert state.longest_wait == 15.0 and state.available == 0 and state.in_call == 1

    view.apply(msg(Event="QueueCallerAbandon", Queue="operators", Position="1", Channel="Local/a;1"))
    view.apply(msg(Event="QueueCallerLeave", Queue="operators", Position="1", Channel="Local/a;1"))
    state = view.snapshot()["operators"]
    assert [(c.position, c.caller, c.wait_seconds) for c in state.callers] == [(1, "0322", 0.0)]

    view.apply(msg(Event="QueueMemberPause", Queue="operators", Interface="PJSIP/operator1",
                   StateInterface="PJSIP/operator1", Status="1", Paused="1"))
    view.apply(msg(Event="QueueMemberStatus", Queue="operators", StateInterface="PJSIP/operator2", Status="1"))
    assert view.snapshot()["operators"].available == 1  # operator1 paused, operator2 free again
    view.apply(msg(Event="Hangup", Channel="Local/b;1"))  # not a queue event: ignored
    assert len(view.snapshot()["operators"].callers) == 1


def test_reset_forgets_stale_callers():
    view = QueueView(Clock())
    view.apply(msg(Event="QueueCallerJoin", Queue="operators", Position="1", Channel="Local/a;1", CallerIDNum="1"))
    view.reset([msg(Event="QueueSummary", Queue="operators", Callers="0")])
    assert view.snapshot()["operators"].callers == ()
