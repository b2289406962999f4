"""The admin's user pages, with one addition: setting a user's password there revokes their API
tokens, as changing it on the password page does (``accounts.services.password_changed``)."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from accounts.services import password_changed

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
