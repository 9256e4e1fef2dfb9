"""How many connections and sessions the builder's sshd admits: sized for the burst of
builds its clients start at once.

A client's Nix opens one SSH session per build, up to its machines line's max-jobs at
once. When several start together they race to become the shared connection's master
(ControlMaster auto), and each loser opens its own TCP connection, so a burst is
max-jobs unauthenticated connections per client. sshd's default MaxStartups (10:30:100)
randomly drops those past ten, and Nix then reports that no machine could build.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import BuilderConfig

# Room for what else reaches the builder besides builds (doctor, nix copy, a ping):
# sshd's own default start.
HEADROOM = 10
# Percentage of connections refused at the first threshold (sshd's default rate).
REFUSE_RATE = 30
# sshd reads each of these numbers as a C int and refuses to start when one does not fit;
# no more connections than that can be open anyway.
SSHD_INT_MAX = 2**31 - 1


@dataclass(frozen=True)
class SshdLimits:
    start: int  # unauthenticated connections admitted before random refusals begin
    full: int  # unauthenticated connections past which every new one is refused
    sessions: int  # sessions per connection

    @property
    def max_startups(self) -> str:
        return f"{self.start}:{REFUSE_RATE}:{self.full}"


def sshd_limits(config: BuilderConfig, clients: int) -> SshdLimits:
    """The limits for CLIENTS authorized keys (each key a client that may burst
    nix.max_jobs connections), unless ssh.max_startups / ssh.max_sessions set them."""
    jobs = max(config.nix.max_jobs, 1)
    start = min(config.ssh.max_startups or jobs * max(clients, 1) + HEADROOM,
                SSHD_INT_MAX // 2)  # the full threshold is twice the start
    sessions = min(config.ssh.max_sessions or jobs + HEADROOM, SSHD_INT_MAX)
    return SshdLimits(start=start, full=2 * start, sessions=sessions)
