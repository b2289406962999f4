"""The Django admin belongs to the installation's operators (superusers), with one exception
built for clinic admins: the instrument definitions (``outcomes.instrument_admin``), whose
querysets, choice lists and extra pages are scoped to the clinics the user administers.

Django's own admin lets any ``is_staff`` user in and then checks model permissions, which know
nothing of clinics: a clinic admin given "can add API token" could mint a token for another
clinic's user, and "can view client" showed every clinic's clients. Rather than scope twenty
admin classes and hope none is missed, every admin class is for superusers only unless it says
``clinic_scoped = True`` (and is tested as such); clinic staff do their everyday work in the
staff pages, which are scoped by the selectors.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class SuperuserOnly:
    """Mixed into every admin class that is not clinic-scoped: nothing for anyone else."""

    def has_module_permission(self, request):
        return request.user.is_superuser and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args, **kwargs):
        return request.user.is_superuser and super().has_add_permission(request, *args, **kwargs)

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def get_object(self, request, object_id, from_field=None):
        # Django looks the object up before it checks the permission: an id that exists would
        # answer 403 and one that does not a redirect, telling ids of other clinics apart.
        if not request.user.is_superuser:
            return None
        return super().get_object(request, object_id, from_field)


class OperatorAdminSite(admin.AdminSite):
    site_header = "Outcome tracker administration"

    def has_permission(self, request):
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        return user.is_superuser or _administers_a_clinic(user)

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not getattr(admin_class, "clinic_scoped", False):
            admin_class = type(
                admin_class.__name__,
                (SuperuserOnly, admin_class),
                {"__module__": admin_class.__module__},
            )
        super().register(model_or_iterable, admin_class, **options)


def _administers_a_clinic(user) -> bool:
    from clients.models import Membership, Role

    return Membership.objects.filter(user=user, role=Role.ADMIN).exists()


class OperatorAdminConfig(AdminConfig):
    default_site = "config.admin_site.OperatorAdminSite"
