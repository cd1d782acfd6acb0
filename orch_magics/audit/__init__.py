"""The audit trail: one tamper-evident JSON line when a run starts and one when it ends (one
when a protected environment refused it)."""

from .digest import OutputDigest
from .log import AuditLog, default_audit_path, verify
from .record import (
    closed_record,
    cut_short_record,
    end_record,
    failed_after_record,
    refused_record,
    start_record,
)

__all__ = ["AuditLog", "OutputDigest", "closed_record", "cut_short_record", "default_audit_path",
           "end_record", "failed_after_record",
           "refused_record", "start_record", "verify"]
