"""Settings of the sender service (env prefix ``SENDER_``)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from parley.kit.crypto import EncryptionSettings
from parley.kit.settings import ServiceSettings


class SenderSettings(ServiceSettings, EncryptionSettings):
    model_config = SettingsConfigDict(env_prefix="SENDER_", extra="ignore", populate_by_name=True)

    service_name: str = "sender"
    port: int = 8083
    database_schema: str = "sender"
    graph_api_url: str = Field("http://127.0.0.1:8089/v23.0", description="Meta's Graph API (or the sandbox)")
    graph_timeout_seconds: float = Field(10.0, description="Whole-request limit of one Graph API call")
    workers: int = Field(4, description="Send loops per process; replicas share work via SKIP LOCKED")
    claim_batch: int = Field(40, description="Messages one send loop claims per transaction")
    throughput_per_second: float = Field(
        80.0, gt=0, description="Sends per second per number, shared by all replicas through Valkey (Meta: 80 default)")
    pacing_lookahead_seconds: float = Field(
        0.25, ge=0, le=2, description="How far ahead a send loop may reserve a number's evenly spaced send slots "
                                      "(and wait for them): larger fills a number's rate with fewer claims")
    pair_interval_seconds: float = Field(
        6.0, ge=0, description="Per (number, recipient): one message per this many seconds once the burst is used "
                               "(Meta's pair rate limit, 131056); 0 turns the pair limit off")
    pair_burst: int = Field(45, ge=1, description="Messages to one recipient that may go at once before the pair "
                                                  "rate applies")
    pause_after_failures: int = Field(10, ge=1, description="Consecutive failures of a number that pause it "
                                                            "until a manager resumes it")
    slow_factor: float = Field(0.5, gt=0, le=1, description="Throughput multiplier of a number after 131048 "
                                                            "(spam rate limit)")
    slow_seconds: float = Field(600.0, ge=0, description="How long a number stays slowed after 131048")
    window_settle_seconds: float = Field(
        30.0, ge=0, description="A free-form message with no known open window waits this long (from its request) "
                                "for the customer's message to reach the sender (the inbound consumer may lag) "
                                "before it is refused")
    gauges_interval_seconds: float = Field(15.0, description="How often channel gauges are read from the database")
    idle_seconds: float = Field(0.5, description="Longest pause of a send loop that found nothing due (requests "
                                                 "queued in the process and its held messages falling due end it)")
    in_doubt_grace_seconds: float = Field(
        600.0, description="How long an in-doubt send waits for Meta's status before it is sent again. Long on "
                           "purpose: it must outlast any lag of the status pipeline, or an accepted send goes twice")
    sweep_interval_seconds: float = Field(1.0, description="How often in-doubt sends are looked for")
    retry_base_seconds: float = Field(0.5, description="First backoff of a transient error (doubles each time)")
    retry_max_seconds: float = Field(60.0, description="Longest backoff of a transient error")
    pair_backoff_base_seconds: float = Field(4.0, description="131056 waits base^n seconds (Meta: 4^n)")
    max_transient_attempts: int = Field(
        12, description="Transient errors other than throttling fail the message after this many attempts")
