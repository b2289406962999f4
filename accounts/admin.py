"""The admin's user pages, with one addition: setting a user's password there revokes their API
tokens, as changing it on the password page does (``accounts.services.password_changed``); and the
staff's second factors, which an administrator may see and remove (a lost phone) but never read
the secret of or add (a person enrols their own, on the enrolment page)."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.db.models import Count

from accounts.models import AuthenticatorDevice, RecoveryCodes
from accounts.selectors import user_audit_clinic
from accounts.services import password_changed
from audit.services import audit_record

User = get_user_model()


class StaffUserAdmin(UserAdmin):
    def user_change_password(self, request, id, form_url=""):
        # Compared before and after rather than hooked into the form: whatever Django's form
        # does (a new password, or password sign-in turned off), a changed hash is the change.
        before = User.objects.filter(pk=unquote(id)).values_list("password", flat=True).first()
        response = super().user_change_password(request, id, form_url)
        user = User.objects.filter(pk=unquote(id)).first()
        if user is not None and before is not None and user.password != before:
            password_changed(user=user, actor=request.user, request=request)
        return response


admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)


class SecondFactorAdmin(admin.ModelAdmin):
    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    list_filter = ["confirmed"]
    search_fields = ["user__username"]
    # No secret is shown (the authenticator's key, the codes' digests): deleting is the only
    # thing to do here, when a phone is lost; the person then enrols again.
    fields = ["user", "name", "confirmed", "created_at", "last_used_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        self.delete_queryset(request, type(obj).objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        # Removing someone's second factor lets a password alone in until they enrol again: each
        # removal is on the audit trail, with who did it.
        with transaction.atomic():
            for device in queryset.select_related("user"):
                audit_record(
                    actor=request.user,
                    action="auth.mfa_removed",
                    obj=device.user,
                    clinic=user_audit_clinic(device.user),
                    request=request,
                    details={"device": device._meta.verbose_name},
                )
            queryset.delete()


@admin.register(AuthenticatorDevice)
class AuthenticatorDeviceAdmin(SecondFactorAdmin):
    pass


@admin.register(RecoveryCodes)
class RecoveryCodesAdmin(SecondFactorAdmin):
    list_display = [*SecondFactorAdmin.list_display, "codes_left"]
    fields = [*SecondFactorAdmin.fields, "codes_left"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(codes_left=Count("codes"))

    @admin.display(description="codes left", ordering="codes_left")
    def codes_left(self, obj):
        return obj.codes_left
