"""The sampling run shared by every capability: its id, steps, sigma and participants."""

from .context import Enrollment, Participant, SamplingRun, current_run
from .wrappers import enroll, run_of, withdraw

__all__ = ["Enrollment", "Participant", "SamplingRun", "current_run", "enroll", "run_of", "withdraw"]
