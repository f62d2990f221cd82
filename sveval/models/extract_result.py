"""What one extraction run did (`ExtractResult`) and what it could not extract (`Skipped`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Skipped:
    utt: str
    path: str
    reason: str


@dataclass(frozen=True)
class ExtractResult:
    """What one process did. `scp` is the published xvector.scp, or None if other shards are unfinished."""

    out_dir: Path
    scp: Path | None
    extracted: int
    already_done: int
    skipped: tuple[Skipped, ...]
    resampled: int
    multichannel: int
    seconds: float
    device: str
    precision: str
    part: str
    changed: tuple[str, ...] = ()  # ids extracted again: their audio's path, size or mtime had changed
    silent: tuple[str, ...] = ()  # ids whose audio is all zeros (embedded, but meaningless)
    notes: tuple[str, ...] = ()  # e.g. a stale lock taken over

    @property
    def utt_per_second(self) -> float:
        return self.extracted / self.seconds if self.seconds > 0 else 0.0

    def warnings(self) -> list[str]:
        """What a person should hear about this run: resampled, multi-channel and skipped files."""
        lines = list(self.notes)
        if self.changed:
            lines.append(
                f"{len(self.changed)} utterances were extracted again because their audio changed (path, "
                f"size or modification time differ from the record), e.g. {', '.join(self.changed[:3])}"
            )
        if self.silent:
            lines.append(
                f"{len(self.silent)} files are digital silence (all samples zero); their embeddings carry no "
                f"speaker information: {', '.join(self.silent[:3])}"
            )
        if self.resampled:
            lines.append(f"{self.resampled} files were not 16 kHz and were resampled to 16 kHz")
        if self.multichannel:
            lines.append(f"{self.multichannel} files had several channels; the first channel was used")
        if self.skipped:
            listed = self.out_dir / f"{self.part}.skipped"
            lines.append(f"{len(self.skipped)} utterances skipped (listed in {listed})")
            lines += [f"  skipped {item.utt}: {item.reason}" for item in self.skipped[:5]]
        return lines
