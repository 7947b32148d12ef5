"""The one way a report names the signed envelope behind a figure: ``agent/boot/seq``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class EnvelopeRef:
    agent: str
    boot: str
    seq: int

    def __str__(self) -> str:
        return evidence_ref(self.agent, self.boot, self.seq)


def evidence_ref(agent: str, boot: str, seq: int) -> str:
    return f"{agent}/{boot}/{seq}"


def parse_evidence_ref(text: str) -> EnvelopeRef:
    """``agent/boot/seq`` back into its parts; ValueError names what is wrong."""
    parts = text.strip().split("/")
    if len(parts) != 3 or not all(parts) or not parts[2].isdigit():
        raise ValueError(f"not an evidence reference (agent/boot/seq): {text!r}")
    return EnvelopeRef(parts[0], parts[1], int(parts[2]))
