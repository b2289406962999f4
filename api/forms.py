from django import forms


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        label="What will use it",
        help_text="For example 'EHR sync': shown in the list so you can tell your keys apart.",
    )
