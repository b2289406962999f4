from django import forms


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, label="Staff username")
    action = forms.ChoiceField(required=False, label="Action")
    client_label = forms.CharField(required=False, label="Client label")
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, actions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any action")] + [(a, a) for a in actions]

    def filters(self) -> dict:
        """The cleaned filters, or none at all when the form is invalid (never a wrong subset)."""
        if not self.is_valid():
            return {}
        return {name: value for name, value in self.cleaned_data.items() if value}
