"""The Django admin belongs to the installation's operators (superusers), not to clinic staff.

Django's own admin lets any ``is_staff`` user in and then checks model permissions, which know
nothing of clinics: a clinic admin given "can add API token" could mint a token for another
clinic's user, and "can view client" would show every clinic's clients. Rather than scope twenty
admin classes (querysets, choice lists, inlines, actions) and hope none is missed, the whole site
answers only to active superusers; clinic staff do their work in the staff pages, which are
scoped by the selectors (and their API tokens on their own security page).
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class OperatorAdminSite(admin.AdminSite):
    site_header = "Outcome tracker administration"

    def has_permission(self, request):
        user = request.user
        return user.is_active and user.is_superuser


class OperatorAdminConfig(AdminConfig):
    default_site = "config.admin_site.OperatorAdminSite"
