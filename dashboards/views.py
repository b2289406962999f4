from email import message_from_bytes, policy
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from clients.selectors import caseload_episodes


@login_required
def caseload(request):
    episodes = caseload_episodes(request.user).select_related("client").order_by("client__label")
    return render(request, "dashboards/caseload.html", {"episodes": episodes})


@login_required
def local_outbox(request):
    """The embedded default's mailbox: what clients and staff would have received (demo only)."""
    if not (settings.SHOW_LOCAL_OUTBOX and request.user.is_staff):
        raise Http404
    outbox = Path(settings.EMAIL_OUTBOX_DIR)
    files = sorted(outbox.glob("*.eml"), reverse=True)[:50] if outbox.exists() else []
    mails = []
    for path in files:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        mails.append(
            {
                "to": message["To"],
                "subject": message["Subject"],
                "date": message["Date"],
                "body": body.get_content() if body else "",
            }
        )
    return render(request, "dashboards/local_outbox.html", {"mails": mails})
