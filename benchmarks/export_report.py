"""The export section of the results page, rendered as Markdown."""

from __future__ import annotations

from benchmarks.export_data import CAMPAIGN_COUNT, EVENTS_PER_MESSAGE
from benchmarks.export_throughput import FORMATS, ExportResults, FileRun

# An export must write at least this share of the rows per second that
# ClickHouse writes to a file by itself.
MIN_RATE_VERSUS_BASELINE = 0.5
# Flat memory, checked as a bound at one size: the streaming path took 85 to
# 160 MiB at a million rows and about the same at three million (chDB 4.4,
# 2-core AMD EPYC). Holding a million-row CSV file in memory takes 245 MiB, and
# a Parquet row group of a million rows (ClickHouse's default) took 250 to
# 290 MiB, so either would exceed this bound at the default --export-rows.
MAX_RSS_GROWTH_MIB = 192.0


def _verdict(results: ExportResults, export_format: str) -> str:
    rate_ok = results.ratio(export_format) >= MIN_RATE_VERSUS_BASELINE
    memory_ok = results.exports[export_format].rss_growth_mib <= MAX_RSS_GROWTH_MIB
    if rate_ok and memory_ok:
        return "PASS"
    missed = [name for name, ok in (("rate", rate_ok), ("memory", memory_ok)) if not ok]
    return f"MISS ({', '.join(missed)})"


def _file_row(run: FileRun, ratio: str, result: str) -> str:
    return (
        f"| {run.writer} | {run.format} | {run.rows:,} | {run.file_bytes / 1e6:,.1f} | {run.seconds:.2f} "
        f"| {run.rows_per_second:,.0f} | {run.megabytes_per_second:,.1f} | {run.rss_growth_mib:,.0f} "
        f"| {ratio} | {result} |"
    )


def _throughput_rows(results: ExportResults) -> list[str]:
    rows = [
        "| writer | format | rows | file MB | seconds | rows/s | MB/s | RSS growth (MiB) | ratio to baseline "
        "| target result |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for export_format in FORMATS:
        rows.append(_file_row(results.quarter_exports[export_format], "—", "—"))
        rows.append(
            _file_row(
                results.exports[export_format],
                f"{results.ratio(export_format):.2f}",
                _verdict(results, export_format),
            )
        )
        rows.append(_file_row(results.baselines[export_format], "baseline", "—"))
        rows.append(_file_row(results.baselines_with_export_settings[export_format], "—", "—"))
    return rows


def _csv_time_rows(results: ExportResults) -> list[str]:
    stream = results.csv_stream
    parts = [
        ("the whole CSV export (the fastest run above)", results.exports["csv"].seconds),
        (f"reading ClickHouse's CSV stream ({stream.chunks:,} chunks of at most 1 MiB)", stream.read_seconds),
        ("counting the records in each chunk (`_count_csv_records`, numpy)", stream.count_seconds),
    ]
    rows = ["| part | seconds |", "|---|---:|"]
    rows += [f"| {label} | {seconds:.2f} |" for label, seconds in parts]
    return rows


def export_sections(results: ExportResults) -> list[str]:
    """Return the lines of the export section, headed ``## Export``."""
    identical = "is" if results.csv_identical_to_baseline else "is NOT"
    return [
        "## Export",
        "",
        f"{results.rows:,} events of one workspace ({results.campaigns} campaigns) were exported with the "
        "product's `events` export, in CSV and in Parquet, to local storage (`file://` in a temporary folder), "
        "and ClickHouse wrote the same SELECT to a file by itself as the baseline.",
        "",
        "### Throughput",
        "",
        *_throughput_rows(results),
        "",
        f"Target: the export writes at least {MIN_RATE_VERSUS_BASELINE:.1f} of the baseline's rows/s, and its "
        f"RSS grows by at most {MAX_RSS_GROWTH_MIB:.0f} MiB. The first row of each format is the export of a "
        "quarter of the campaigns: with four times fewer rows, its RSS growth shows whether memory grows with the "
        "export. The last row is ClickHouse with the export's whole SETTINGS clause (one thread, blocks of 8192 "
        "rows): it shows how much of the gap those settings make.",
        "",
        f"The CSV export file {identical} byte-identical to ClickHouse's own `CSVWithNames` file.",
        "",
        "### Where the CSV export spends its time",
        "",
        f"Reading and counting were timed apart in separate reads of the same stream (the fastest of "
        f"{results.repeats}). The rest of the export's time is the campaign list, the data check, the CSV header "
        "query and the writes to storage.",
        "",
        *_csv_time_rows(results),
        "",
        "### Method",
        "",
        f"- Data: `INSERT INTO email_events ... SELECT ... FROM numbers(N)` in chDB, without Kafka, took "
        f"{results.fill_seconds:.1f} s including `OPTIMIZE TABLE ... FINAL` (not part of any figure). "
        f"{CAMPAIGN_COUNT} campaigns, {EVENTS_PER_MESSAGE} events per message (sent, delivered or bounced, "
        "opens including privacy prefetches, clicks, unsubscribes), provider message ids, browser user "
        "agents and campaign URLs, one click URL in eight with an e-mail address to redact.",
        "- Export: the steps of `ExportWorker._write` called directly: `workspace_campaigns`, the "
        "`has_data_sql` check, `export_query`, then `write_export` into `LocalStorage.open_writer`, on a "
        "ClickHouse client of its own as in the worker. No Kafka and no job record. With chDB, a Parquet "
        "export lets ClickHouse write a temporary file, counts its rows and copies it to storage in 1 MiB "
        "chunks.",
        "- Baseline: `SELECT ... INTO OUTFILE ... FORMAT CSVWithNames` or `FORMAT Parquet` of the export's "
        "own SELECT (for CSV the one with neutralised formulas), with the export's output-format settings "
        "and ClickHouse's default threads and block size.",
        f"- Clock: `time.perf_counter` around the whole call; each row is the fastest of {results.repeats} runs, "
        "with the largest RSS growth of those runs. rows/s is rows over seconds, MB/s is the file "
        "size in 10^6 bytes over seconds, the ratio is the export's rows/s over the baseline's. Files stay "
        "in the page cache (no fsync). Every file was counted in ClickHouse afterwards and contained every "
        "row its query selects.",
        f"- RSS growth: the peak RSS during the call minus the RSS at its start ({results.memory_method}), after "
        "`SYSTEM JEMALLOC PURGE`. chDB runs in this process, so it includes ClickHouse's memory.",
        "- Order: the quarter-size CSV export, the full one, its two baselines, then the same for Parquet. "
        "The machine is shared with other work, so the numbers are noisy: while this benchmark was written, "
        "single runs of the same writer differed by up to 1.7 times in time and 40 MiB in RSS growth.",
        "",
    ]
