"""Shapes of the promotions API: requests with their evidence, decisions and runs; environments with policies."""

from rest_framework import serializers

from apps.deployments.api.serializers import RolloutSerializer

from ..models import Decision, Environment, EvidenceCheck, Policy, PromotionRequest


class DecisionSerializer(serializers.ModelSerializer):
    approver = serializers.CharField(source="approver.username")

    class Meta:
        model = Decision
        fields = ["approver", "verdict", "comment", "at"]


class EvidenceCheckSerializer(serializers.ModelSerializer):
    class Meta:
        model = EvidenceCheck
        fields = ["key", "label", "required", "status", "summary", "figures", "collected_at"]


class PromotionSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model_version.model.name", default=None)
    model_version = serializers.UUIDField(source="model_version_id")
    version = serializers.CharField(source="model_version.version", default=None)
    environment = serializers.CharField(source="environment.name")
    policy_version = serializers.IntegerField(source="policy.version")
    approvals_required = serializers.IntegerField(source="policy.approvals_required")
    approvals = serializers.SerializerMethodField()
    requested_by = serializers.CharField(source="requested_by.username")
    champion = serializers.CharField(source="champion.version", default=None)
    evidence = EvidenceCheckSerializer(source="checks", many=True)
    decisions = DecisionSerializer(many=True)
    url = serializers.CharField(source="get_absolute_url")

    class Meta:
        model = PromotionRequest
        fields = [
            "id",
            "status",
            "model",
            "model_version",
            "version",
            "environment",
            "champion",
            "policy_version",
            "approvals_required",
            "approvals",
            "requested_by",
            "reason",
            "deployment",
            "created_at",
            "expires_at",
            "decided_at",
            "write_back",
            "write_back_error",
            "evidence_run",
            "deployment_run",
            "evidence",
            "decisions",
            "url",
        ]

    def get_approvals(self, obj) -> int:
        if hasattr(obj, "approvals"):
            return obj.approvals
        return sum(1 for d in obj.decisions.all() if d.verdict == Decision.Verdict.APPROVE)


class DeploymentRequestSerializer(serializers.Serializer):
    connection = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    endpoint = serializers.CharField()
    target = serializers.CharField(required=False, allow_blank=True)
    instance_type = serializers.CharField(required=False, allow_blank=True)
    instance_count = serializers.IntegerField(required=False, default=1)
    rollout = RolloutSerializer(required=False)


class PromotionCreateSerializer(serializers.Serializer):
    model_version = serializers.UUIDField()
    environment = serializers.CharField()
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    deployment = DeploymentRequestSerializer(required=False, allow_null=True)


class DecideSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Decision.Verdict.values)
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class PolicySerializer(serializers.ModelSerializer):
    approver_teams = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    created_by = serializers.CharField(source="created_by.username", default=None)

    class Meta:
        model = Policy
        fields = [
            "version",
            "approvals_required",
            "approver_teams",
            "expiry_days",
            "checks",
            "sensitive_column",
            "created_by",
            "created_at",
        ]


class EnvironmentSerializer(serializers.ModelSerializer):
    team = serializers.CharField(source="team.name")
    policy = serializers.SerializerMethodField()
    policy_history = serializers.SerializerMethodField()

    class Meta:
        model = Environment
        fields = ["id", "team", "name", "description", "policy", "policy_history"]

    def get_policy(self, obj) -> dict | None:
        policies = list(obj.policies.all())
        return PolicySerializer(policies[0]).data if policies else None

    def get_policy_history(self, obj) -> list:
        return [
            {"version": p.version, "by": p.created_by.username if p.created_by else None, "at": p.created_at}
            for p in obj.policies.all()
        ]


class EnvironmentWriteSerializer(serializers.Serializer):
    team = serializers.CharField(required=False)
    name = serializers.CharField()
    description = serializers.CharField(required=False, allow_blank=True, default="")
    approvals_required = serializers.IntegerField(required=False, default=1)
    approver_teams = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    expiry_days = serializers.IntegerField(required=False, default=7)
    checks = serializers.DictField(required=False, default=dict)
    sensitive_column = serializers.CharField(required=False, allow_blank=True, default="")
