"""Expected outcomes of ECG operations."""

from __future__ import annotations

from ecg_graphql.errors import DomainError


class EcgAlreadyExists(DomainError):
    """The owner already has an ECG with this id; nothing was overwritten."""

    def __init__(self, ecg_id: str) -> None:
        super().__init__(f"An ECG with id {ecg_id!r} already exists.")
        self.ecg_id = ecg_id
