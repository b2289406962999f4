"""Write audit events. Details must carry identifiers only: no health data, no client names."""

from accounts.selectors import client_ip
from audit.models import AuditEvent


def audit_record(
    *,
    actor,
    action: str,
    obj=None,
    clinic=None,
    client=None,
    request=None,
    details: dict | None = None,
) -> AuditEvent:
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor=actor if is_user else None,
        actor_label=actor.get_username() if is_user else "system",
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        clinic=clinic,
        client=client,
        # Behind a proxy REMOTE_ADDR is the proxy's: the same rule as the sign-in lockout.
        ip_address=client_ip(request) if request is not None else None,
        details=details or {},
    )


def audit_client_view(request, client, *, what: str = "client") -> AuditEvent:
    """Record that the signed-in user viewed ``client``'s data on a page or API call.

    ``what`` names the surface (``"client"``, ``"trajectory"``, ``"api.client"``...), never data.
    """
    return audit_record(
        actor=request.user,
        action="client.view",
        obj=client,
        clinic=client.clinic,
        client=client,
        request=request,
        details={"view": what},
    )
