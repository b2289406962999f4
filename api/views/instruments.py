"""Instruments as the user's clinic uses them: items (with their text only where the clinic may
show it), answer options, bands and the published numbers behind scoring."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.scoping import clinic_for
from api.strict_input import StrictInput
from outcomes.selectors import instruments_available


class ClinicQuerySerializer(StrictInput):
    clinic = serializers.SlugField(
        required=False, help_text="The clinic's slug; needed only if you work in several."
    )


class OptionOutput(serializers.Serializer):
    value = serializers.IntegerField()
    label = serializers.CharField()


class ItemOutput(serializers.Serializer):
    number = serializers.IntegerField()
    link_id = serializers.CharField()
    text = serializers.CharField(
        allow_null=True, help_text="Null where the item text is licensed and not loaded."
    )
    scored = serializers.BooleanField()
    kind = serializers.ChoiceField(
        choices=["choice", "continuous"],
        help_text="continuous: a visual-analogue line from min to max in steps (ORS, SRS, "
        "session rating: 0–10 in 0.1); it has anchors instead of options.",
    )
    options = OptionOutput(many=True)
    min = serializers.FloatField(source="minimum", allow_null=True)
    max = serializers.FloatField(source="maximum", allow_null=True)
    step = serializers.FloatField(allow_null=True)
    anchors = serializers.ListField(child=serializers.CharField(), allow_null=True)


class BandOutput(serializers.Serializer):
    low = serializers.FloatField()
    high = serializers.FloatField()
    label = serializers.CharField()


class InstrumentOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    version = serializers.CharField()
    direction = serializers.ChoiceField(choices=["lower_is_better", "higher_is_better"])
    min_total = serializers.FloatField()
    max_total = serializers.FloatField()
    caseness_cutoff = serializers.FloatField(allow_null=True)
    reliable_change = serializers.FloatField(allow_null=True)
    max_missing = serializers.IntegerField()
    licence = serializers.CharField()
    can_be_sent = serializers.BooleanField(
        help_text="False when item text is missing: the form can be entered but not e-mailed."
    )
    items = ItemOutput(many=True)
    bands = BandOutput(many=True)
    sources = serializers.ListField(child=serializers.CharField())


def _instruments(request):
    query = ClinicQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return instruments_available(clinic_for(request.user, query.validated_data.get("clinic")))


class InstrumentListApi(APIView):
    query_serializer_class = ClinicQuerySerializer

    @extend_schema(parameters=[ClinicQuerySerializer], responses=InstrumentOutput(many=True))
    def get(self, request):
        instruments = sorted(_instruments(request).values(), key=lambda i: i.code)
        return Response(InstrumentOutput(instruments, many=True).data)


class InstrumentDetailApi(APIView):
    query_serializer_class = ClinicQuerySerializer

    @extend_schema(parameters=[ClinicQuerySerializer], responses=InstrumentOutput)
    def get(self, request, code):
        instrument = _instruments(request).get(code)
        if instrument is None:
            raise Http404
        return Response(InstrumentOutput(instrument).data)
