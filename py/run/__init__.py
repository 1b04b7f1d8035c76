"""The sampling run shared by every capability: its id, steps, sigma and participants."""

from .context import Enrollment, Participant, SamplingRun
from .wrappers import enroll, run_of, withdraw

__all__ = ["Enrollment", "Participant", "SamplingRun", "enroll", "run_of", "withdraw"]
