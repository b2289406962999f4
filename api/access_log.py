"""Audit entries for reads of client data through the API: one ``client.view`` entry per client
whose data a response carries (identifiers only, never the data itself)."""

from audit.services import audit_client_view


def audit_api_read(request, clients, *, what: str) -> None:
    seen = set()
    for client in clients:
        if client.pk not in seen:
            seen.add(client.pk)
            audit_client_view(request, client, what=f"api.{what}")
