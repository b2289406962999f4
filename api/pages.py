"""The staff's own API keys page (``/accounts/tokens/``): HTML for people, beside the account
pages, but here because the API owns the token model and sits above accounts."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from api.forms import ApiTokenForm
from api.models import ApiToken
from api.services import api_token_create, api_token_revoke


@never_cache
@login_required
def api_tokens(request):
    """The user's own API keys: list, create (the key is on this response only, never in a
    redirect, a message cookie or the database), revoke. A key skips the second factor, so only
    a session that passed one may make a key."""
    user = request.user
    may_create = user.is_verified()
    issued = None
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and may_create and form.is_valid():
        issued = api_token_create(user=user, name=form.cleaned_data["name"], actor=user)
        form = ApiTokenForm()
    context = {
        "form": form,
        "may_create": may_create,
        "issued": issued,
        "tokens": ApiToken.objects.filter(user=user).order_by("-created_at"),
    }
    return render(request, "api/api_tokens.html", context)


@never_cache
@login_required
@require_POST
def api_token_revoke_own(request, token_id: int):
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    if api_token_revoke(token=token, actor=request.user, reason="revoked_by_owner"):
        messages.success(request, f"'{token.name}' is revoked: it no longer opens the API.")
    return redirect("api_keys:list")
