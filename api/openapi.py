"""The OpenAPI 3.1 document of the API, served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

from analytics.exports import EXPORT_FORMATS, EXPORT_TYPES, GRANULARITIES
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
    "SERVICE_UNAVAILABLE",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
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
    "Freshness": {
        "type": "object",
        "required": ["topic", "messages", "oldest_age_seconds", "measured_at"],
        "properties": {
            "topic": {"type": "string"},
            "messages": {**_COUNT, "description": "Messages of the events topic not processed yet"},
            "oldest_age_seconds": {
                "type": ["number", "null"],
                "description": "Age of the oldest unprocessed message at measured_at; null when nothing lags",
            },
            "measured_at": {"type": "string"},
        },
    },
    "LagReport": {
        "type": "object",
        "properties": {
            "success": {"const": True},
            "data": {
                "type": "object",
                "required": ["measured_at", "total_lag", "partitions"],
                "properties": {
                    "measured_at": {"type": "string"},
                    "total_lag": _COUNT,
                    "partitions": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "group": {"type": "string"},
                                "topic": {"type": "string"},
                                "partition": _COUNT,
                                "committed": {
                                    "type": ["integer", "null"],
                                    "description": "Committed offset; null when the group has no commit yet",
                                },
                                "end": _COUNT,
                                "lag": _COUNT,
                                "oldest_age_seconds": {"type": ["number", "null"]},
                            },
                        },
                    },
                },
            },
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
                    "lag": {
                        "oneOf": [{"$ref": "#/components/schemas/Freshness"}, {"type": "null"}],
                        "description": "Consumer lag of the events topic at the last measurement; null when unknown",
                    },
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
        "/api/v1/ops/lag": {
            "get": {
                "summary": "Consumer lag per group, topic and partition, measured now (operator key)",
                "description": "Needs a key from OPERATOR_API_KEYS; a workspace key gets 403.",
                "responses": {
                    "200": {
                        "description": "The lag",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LagReport"}}},
                    },
                    "401": _error("UNAUTHORIZED: missing or invalid operator key"),
                    "403": _error("FORBIDDEN: a workspace key"),
                    "503": _error("SERVICE_UNAVAILABLE: Kafka did not answer in time"),
                },
            }
        },
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


# Exports. Kept in one block so the compare and operations parts above stay untouched.
_EXPORT_TIMES = {"type": ["string", "null"], "format": "date-time"}
_SCHEMAS.update(
    {
        "ExportRequest": {
            "type": "object",
            "required": ["export_type", "format"],
            "additionalProperties": False,
            "properties": {
                "export_type": {
                    "type": "string",
                    "enum": list(EXPORT_TYPES),
                    "description": "campaign_performance: counts and rates per campaign, equal to compare; "
                    "time_series: counts per campaign and day or hour; events: raw events without recipient data",
                },
                "format": {"type": "string", "enum": list(EXPORT_FORMATS)},
                "time_range": {"$ref": "#/components/schemas/TimeRange"},
                "campaign_ids": {
                    "type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 1000,
                    "description": "Omit to export every campaign of the workspace",
                },
                "include_time_series": {
                    "type": "boolean", "default": False,
                    "description": "campaign_performance only: add a time_series column with the campaign's points",
                },
                "granularity": {"type": "string", "enum": list(GRANULARITIES), "default": "day"},
                "timezone": {"type": "string", "default": "UTC", "description": "IANA time zone of the periods"},
                "excel": {"type": "boolean", "default": False, "description": "csv only: start with a UTF-8 BOM"},
            },
        },
        "ExportJob": {
            "type": "object",
            "required": ["export_id", "status"],
            "properties": {
                "export_id": {"type": "string"},
                "status": {"type": "string", "enum": ["processing", "completed", "failed"]},
                "export_type": {"type": "string"},
                "format": {"type": "string"},
                "created_at": _EXPORT_TIMES,
                "estimated_completion": _EXPORT_TIMES,
                "started_at": _EXPORT_TIMES,
                "completed_at": _EXPORT_TIMES,
                "rows_written": {"type": ["integer", "null"], "description": "Rows written so far, or in all"},
                "file_size_bytes": {"type": ["integer", "null"]},
                "download_url": {"type": ["string", "null"], "description": "A fresh link on every GET"},
                "expires_at": _EXPORT_TIMES,
                "error": {
                    "type": "object",
                    "description": "Present when status is failed; code EXPORT_FAILED and the reason",
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
        "ExportResponse": {
            "type": "object",
            "properties": {"success": {"const": True}, "data": {"$ref": "#/components/schemas/ExportJob"}},
        },
    }
)

_WORKSPACE_PARAMETER = {"name": "workspaceId", "in": "path", "required": True, "schema": {"type": "string"}}
_EXPORT_RESPONSE = {"application/json": {"schema": {"$ref": "#/components/schemas/ExportResponse"}}}
OPENAPI_DOCUMENT["paths"].update(
    {
        "/api/v1/workspaces/{workspaceId}/analytics/export": {
            "post": {
                "summary": "Start an export; the file is written in the background",
                "parameters": [
                    _WORKSPACE_PARAMETER,
                    {
                        "name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
                        "description": "A repeated POST with the same key and body returns the first job",
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExportRequest"}}},
                },
                "responses": {
                    "202": {"description": "The job, processing (or the first job for a repeated key)", "content": _EXPORT_RESPONSE},
                    "400": _error("VALIDATION_ERROR or INVALID_TIME_RANGE"),
                    "401": _error("UNAUTHORIZED: missing or invalid API key"),
                    "404": _error("CAMPAIGN_NOT_FOUND, or WORKSPACE_NOT_FOUND for another workspace's key"),
                    "422": _error("VALIDATION_ERROR: the Idempotency-Key was used for a different request"),
                    "503": _error("EXPORT_FAILED: Kafka did not accept the job; it is recorded failed, retry later"),
                },
            }
        },
        "/api/v1/workspaces/{workspaceId}/analytics/exports/{exportId}": {
            "get": {
                "summary": "Status of an export, with a download URL once completed",
                "parameters": [
                    _WORKSPACE_PARAMETER,
                    {"name": "exportId", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {"description": "The job", "content": _EXPORT_RESPONSE},
                    "401": _error("UNAUTHORIZED: missing or invalid API key"),
                    "404": _error("EXPORT_NOT_FOUND, or WORKSPACE_NOT_FOUND for another workspace's key"),
                },
            }
        },
        "/api/v1/export-files/{key}": {
            "get": {
                "summary": "Download a file of the local export store (the download_url of an export)",
                "security": [],
                "parameters": [
                    {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "expires", "in": "query", "required": True, "schema": {"type": "integer"}},
                    {"name": "signature", "in": "query", "required": True, "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {"description": "The file"},
                    "403": _error("FORBIDDEN: the link expired or was altered"),
                    "404": _error("EXPORT_NOT_FOUND: the file no longer exists"),
                },
            }
        },
    }
)
