"""The OpenAPI 3.1 document of the API, served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from analytics.metrics import METRICS
from analytics.time_range import ACCEPTED_FORMS

_ERROR_CODES = [
    "CAMPAIGN_NOT_FOUND",
    "INVALID_TIME_RANGE",
    "EXPORT_FAILED",
    "EXPORT_NOT_FOUND",
    "VALIDATION_ERROR",
    "UNAUTHORIZED",
    "FORBIDDEN",
    "WORKSPACE_NOT_FOUND",
    "INTERNAL_ERROR",
]

_COUNT = {"type": "integer", "minimum": 0}
_RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 100}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["success", "error"],
        "properties": {
            "success": {"const": False},
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string", "enum": _ERROR_CODES}, "message": {"type": "string"}},
            },
        },
    },
    "TimeRange": {
        "description": f"Selects messages by send time. Accepted: {ACCEPTED_FORMS}. The end is exclusive.",
        "oneOf": [
            {"type": "string", "examples": ["24h", "7d", "30d", "90d", "all"]},
            {
                "type": "object",
                "required": ["start", "end"],
                "properties": {"start": {"type": "string"}, "end": {"type": "string"}},
            },
        ],
    },
    "CompareRequest": {
        "type": "object",
        "required": ["campaign_ids"],
        "additionalProperties": False,
        "properties": {
            "campaign_ids": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 20},
            "metrics": {"type": "array", "items": {"type": "string", "enum": list(METRICS)}, "minItems": 1},
            "time_range": {"$ref": "#/components/schemas/TimeRange"},
            "alpha": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.05},
        },
    },
    "AnalyticsSummary": {
        "type": "object",
        "properties": {
            name: _COUNT
            for name in (
                "emails_sent", "emails_delivered", "emails_bounced", "emails_opened", "emails_clicked",
                "emails_replied", "spam_complaints", "unsubscribes", "machine_opens", "bot_clicks",
                "total_opens", "total_clicks",
            )
        },
    },
    "CampaignComparison": {
        "type": "object",
        "properties": {
            "campaign_id": {"type": "string"},
            "campaign_name": {"type": ["string", "null"]},
            "metrics": {"type": "object", "properties": {name: _RATE for name in METRICS}},
            "summary": {"$ref": "#/components/schemas/AnalyticsSummary"},
        },
    },
    "Significance": {
        "type": "object",
        "required": ["metric", "winner", "p_value", "is_significant"],
        "properties": {
            "metric": {"type": "string"},
            "winner": {"type": ["string", "null"]},
            "p_value": {"type": ["number", "null"]},
            "is_significant": {"type": "boolean"},
            "test": {"type": ["string", "null"]},
            "reason": {"type": ["string", "null"], "description": "Why no test could be run, when none was"},
            "alpha": {"type": "number"},
            "leader": {"type": ["string", "null"]},
            "lower_is_better": {"type": "boolean"},
            "counts": {"type": "array", "items": {"type": "object"}},
            "difference": {"type": ["object", "null"]},
            "pairwise": {"type": "array", "items": {"type": "object"}},
        },
    },
    "CompareResponse": {
        "type": "object",
        "properties": {
            "success": {"const": True},
            "data": {
                "type": "object",
                "properties": {
                    "workspace_id": {"type": "string"},
                    "time_range": {"type": "object"},
                    "as_of": {"type": ["string", "null"], "description": "Newest event time in the aggregates"},
                    "comparison": {"type": "array", "items": {"$ref": "#/components/schemas/CampaignComparison"}},
                    "statistical_significance": {
                        "type": "array", "items": {"$ref": "#/components/schemas/Significance"}
                    },
                },
            },
        },
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


OPENAPI_DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "campaign-analytics", "version": "1"},
    "components": {
        "schemas": _SCHEMAS,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/v1/workspaces/{workspaceId}/analytics/compare": {
            "post": {
                "summary": "Compare campaigns: rates, counts and significance tests",
                "parameters": [{"name": "workspaceId", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CompareRequest"}}},
                },
                "responses": {
                    "200": {
                        "description": "The comparison",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CompareResponse"}}},
                    },
                    "400": _error("VALIDATION_ERROR or INVALID_TIME_RANGE"),
                    "401": _error("UNAUTHORIZED: missing or invalid API key"),
                    "404": _error("CAMPAIGN_NOT_FOUND, or WORKSPACE_NOT_FOUND for another workspace's key"),
                },
            }
        },
    },
}
