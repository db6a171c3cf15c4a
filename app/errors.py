"""The exception tree of campaign-analytics.

CampaignAnalyticsError           root of every error this package raises
 +-- ConfigurationError          a setting is missing or invalid, and the message names it
 +-- BrokerError                 the embedded broker could not start or stopped
 +-- StorageError                ClickHouse rejected or failed a statement
 +-- InvalidEvent                (streams.events) a message that cannot become an event
"""


class CampaignAnalyticsError(Exception):
    """Root of the errors raised by campaign-analytics."""


class ConfigurationError(CampaignAnalyticsError):
    """A setting is missing or invalid."""


class BrokerError(CampaignAnalyticsError):
    """The embedded Kafka broker failed to start or exited."""


class StorageError(CampaignAnalyticsError):
    """A ClickHouse statement failed."""
