"""Configuration: precedence, sources, validation messages, and what each field feeds."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from streamq import ConfigError
from streamq.config import TABLES, JobQueueConfig, Override, env_name, load_config, load_table
from streamq.errors import FieldError
from tests.support import REPO


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "streamq.toml"
    path.write_text(text)
    return path


def test_defaults_are_the_seeds() -> None:
    config = load_config(env={})
    jq = config.job_queue
    assert (jq.url, jq.batch_size, jq.batch_timeout_secs, jq.max_retries) == (
        "redis://localhost:6379", 100, 5.0, 5,
    )  # fmt: skip
    assert (jq.worker_concurrency, jq.poll_interval_ms, jq.initial_delay_ms) == (10, 1000, 100)
    assert jq.max_delay_ms == 30_000
    assert (jq.metrics_port, jq.metrics_prefix) == (9090, "streamq")
    assert set(config.sources["job_queue"].values()) == {"default"}


@pytest.mark.parametrize(
    ("file", "env", "flag", "expected", "source"),
    [
        (None, None, None, 100, "default"),
        (7, None, None, 7, "file"),
        (7, "8", None, 8, "env STREAMQ_JOB_QUEUE_BATCH_SIZE"),
        (7, "8", 9, 9, "flag --batch-size"),
        (None, None, 9, 9, "flag --batch-size"),
        (7, None, 9, 9, "flag --batch-size"),
    ],
)
def test_precedence_is_flag_env_file_default(
    tmp_path: Path,
    file: int | None,
    env: str | None,
    flag: int | None,
    expected: int,
    source: str,
) -> None:
    path = _write(tmp_path, f"[job_queue]\nbatch_size = {file}\n" if file else "[job_queue]\n")
    environ = {"STREAMQ_JOB_QUEUE_BATCH_SIZE": env} if env else {}
    overrides = {"job_queue": {"batch_size": Override(flag, "--batch-size")}}
    config = load_config(path, env=environ, overrides=overrides)
    assert config.job_queue.batch_size == expected
    got = config.sources["job_queue"]["batch_size"]
    assert got == (f"file {path}" if source == "file" else source)


def test_every_field_has_an_environment_variable() -> None:
    for name in JobQueueConfig.__struct_fields__:
        env = {env_name("job_queue", name): _env_text(name)}
        config = load_config(env=env)
        assert config.sources["job_queue"][name] == f"env {env_name('job_queue', name)}"


def _env_text(name: str) -> str:
    examples = {
        "url": "redis://example:6380/2", "username": "bob", "password": "pw",
        "tls_ca_file": "", "strict": "true", "metrics_prefix": "myapp",
        "log_format": "json", "log_level": "debug", "max_delay_ms": "700",
        "metrics_addr": "127.0.0.1", "job_log_level": "off",
        "priorities": "high, default, low",
    }  # fmt: skip
    return examples.get(name, "7")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STREAMQ_JOB_QUEUE_BATCH_SIZE": "0"}, "invalid job_queue.batch_size = '0' (from env"),
        ({"STREAMQ_JOB_QUEUE_BATCH_SIZE": "ten"}, "expected int, got str"),
        ({"STREAMQ_JOB_QUEUE_INITIAL_DELAY_MS": "-5"}, "expected int >= 0"),
        ({"STREAMQ_JOB_QUEUE_STRICT": "maybe"}, "invalid job_queue.strict = 'maybe'"),
        ({"STREAMQ_JOB_QUEUE_URL": "http://x"}, "must start with redis://, rediss://, unix://"),
        ({"STREAMQ_JOB_QUEUE_URL": "redis://h:notaport"}, "malformed URL"),
        ({"STREAMQ_JOB_QUEUE_URL": "unix://"}, "needs a socket path"),
        ({"STREAMQ_JOB_QUEUE_BATCHSIZE": "3"}, "unknown setting STREAMQ_JOB_QUEUE_BATCHSIZE"),
        ({"STREAMQ_ACTIONS_SMTP_HOTS": "mx"}, "unknown setting STREAMQ_ACTIONS_SMTP_HOTS"),
        ({"STREAMQ_ACTIONS_SMTP_PORT": "x"}, "invalid actions.smtp_port = 'x' (from env"),
        ({"STREAMQ_JOB_QUEUE_LOG_LEVEL": "loud"}, "invalid job_queue.log_level = 'loud'"),
        ({"STREAMQ_JOB_QUEUE_PRIORITIES": "high,low"}, "must include 'default'"),
        ({"STREAMQ_JOB_QUEUE_METRICS_PORT": "70000"}, "expected int <= 65535"),
        (
            {"STREAMQ_JOB_QUEUE_METRICS_ADDR": "nowhere"},
            "invalid job_queue.metrics_addr = 'nowhere'",
        ),
        (
            {"STREAMQ_JOB_QUEUE_MAX_DELAY_MS": "10", "STREAMQ_JOB_QUEUE_INITIAL_DELAY_MS": "50"},
            "job_queue.max_delay_ms = 10 (from env STREAMQ_JOB_QUEUE_MAX_DELAY_MS): must be >=",
        ),
        (
            {"STREAMQ_JOB_QUEUE_TLS_CA_FILE": "/no/such/ca.pem"},
            "tls_ca_file = '/no/such/ca.pem' (from env STREAMQ_JOB_QUEUE_TLS_CA_FILE): needs",
        ),
    ],
)
def test_invalid_environment_values_name_field_value_and_source(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env=env)
    assert message in str(info.value)


def test_invalid_file_values_name_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, '[job_queue]\nbatch_size = "100"\n')
    with pytest.raises(ConfigError, match=r"batch_size = '100' \(from file .*streamq.toml\)"):
        load_config(path, env={})
    # a float where an int belongs is a wrong type, not silently truncated
    path = _write(tmp_path, "[job_queue]\nworker_concurrency = 2.5\n")
    with pytest.raises(ConfigError, match="expected int, got float"):
        load_config(path, env={})


def test_unknown_keys_and_tables_are_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "[job_queue]\nbatch_sise = 3\n")
    with pytest.raises(ConfigError, match=r"unknown key job_queue.batch_sise in file"):
        load_config(path, env={})
    path = _write(tmp_path, "[jobqueue]\nbatch_size = 3\n")
    with pytest.raises(ConfigError, match=r"unknown table \[jobqueue\]"):
        load_config(path, env={})
    path = _write(tmp_path, "job_queue = 3\n")
    with pytest.raises(ConfigError, match="must be a table"):
        load_config(path, env={})


def test_missing_and_malformed_files_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file '.*nope\.toml' not found"):
        load_config(tmp_path / "nope.toml", env={})
    path = _write(tmp_path, "[job_queue\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(path, env={})


def test_observers_and_actions_tables_are_validated_at_load(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "[actions]\nsmtp_port = 2525\n"
        '[observers.new_order]\nevent_type = "INSERT"\nentity = "Order"\n'
        '[[observers.new_order.actions]]\ntype = "log"\nmessage_template = "hi"\n',
    )
    config = load_config(path, env={"STREAMQ_ACTIONS_SMTP_HOST": "mx"})
    assert [o.name for o in config.observer_list] == ["new_order"]
    assert config.actions.smtp_port == 2525
    assert config.actions.smtp_host == "mx"
    bad = _write(tmp_path, path.read_text().replace('"INSERT"', '"UPSERT"'))
    with pytest.raises(ConfigError, match=r"new_order.*event_type"):
        load_config(bad, env={})
    with pytest.raises(ConfigError, match="smtp_port"):
        load_config(env={"STREAMQ_ACTIONS_SMTP_PORT": "many"})


def test_passwords_are_masked_everywhere() -> None:
    env = {"STREAMQ_JOB_QUEUE_URL": "redis://bob:hunter2@h:1/0", "STREAMQ_JOB_QUEUE_DB": "x"}
    with pytest.raises(ConfigError) as info:
        load_config(env=env)
    assert "hunter2" not in str(info.value)
    config = load_config(env={"STREAMQ_JOB_QUEUE_URL": "redis://bob:hunter2@h:1/0"})
    shown = {e.key: e.value for e in config.entries()}
    assert shown["job_queue.url"] == "redis://bob:***@h:1/0"
    config = load_config(env={"STREAMQ_JOB_QUEUE_PASSWORD": "hunter2"})
    assert "hunter2" not in repr([e.value for e in config.entries()])
    with pytest.raises(ConfigError) as info:
        load_config(env={"STREAMQ_JOB_QUEUE_URL": "redis://:hunter2@h:bad"})
    assert "hunter2" not in str(info.value)


def test_connection_url_folds_in_credentials_and_ca_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    jq = JobQueueConfig(
        url="rediss://h:6380/0", username="app", password="p@ss", tls_ca_file=str(ca)
    )
    assert jq.connection_url() == f"rediss://app:p%40ss@h:6380/0?ssl_ca_certs={ca}"
    assert JobQueueConfig(url="unix:///tmp/r.sock").connection_url() == "unix:///tmp/r.sock"
    with pytest.raises(FieldError, match="needs a rediss:// url"):
        JobQueueConfig(url="redis://h", tls_ca_file=str(ca))
    with pytest.raises(FieldError, match="already carries a password"):
        JobQueueConfig(url="redis://u:a@h", password="b")


def test_fields_feed_the_worker_and_the_job_defaults() -> None:
    jq = JobQueueConfig(
        batch_size=7, batch_timeout_secs=2, worker_concurrency=3, poll_interval_ms=250,
        max_retries=2, initial_delay_ms=10, max_delay_ms=99, claim_timeout_secs=40,
        job_timeout_secs=9, max_deliveries=4, status_ttl_secs=60, dlq_max_entries=5,
        shutdown_grace_secs=1, metrics_port=0, metrics_prefix="app", strict=True,
    )  # fmt: skip
    s = jq.worker_settings()
    assert (s.batch_size, s.block_s, s.concurrency, s.poll_interval_ms) == (7, 2, 3, 250)
    assert (s.claim_timeout_s, s.job_timeout_s, s.max_deliveries, s.shutdown_grace_s) == (
        40, 9, 4, 1,
    )  # fmt: skip
    assert (s.metrics_port, s.metrics_prefix, s.strict) == (None, "app", True)
    d = jq.job_defaults()
    assert d.max_attempts == 3
    assert (d.backoff.initial_delay_ms, d.backoff.max_delay_ms) == (10, 99)
    assert (d.status_ttl_s, d.dlq_max_entries) == (60, 5)


def test_load_table_plugs_in_any_struct() -> None:
    class Actions(msgspec.Struct, frozen=True, kw_only=True):
        webhook_timeout_secs: float = 10.0
        smtp_host: str = "localhost"

    table, sources = load_table(
        Actions, "actions", {"smtp_host": "mail"}, env={"STREAMQ_ACTIONS_WEBHOOK_TIMEOUT_SECS": "3"}
    )
    assert table == Actions(webhook_timeout_secs=3.0, smtp_host="mail")
    assert sources == {"webhook_timeout_secs": "env STREAMQ_ACTIONS_WEBHOOK_TIMEOUT_SECS",
                       "smtp_host": "file"}  # fmt: skip
    assert "job_queue" in TABLES


def test_the_readme_lists_every_environment_variable() -> None:
    readme = (REPO / "README.md").read_text()
    for name in JobQueueConfig.__struct_fields__:
        assert f"| `{name}` | `{env_name('job_queue', name)}` |" in readme, name
    # Every other table's variables too: [actions], [dashboard], whatever registers later.
    assert {"job_queue", "actions", "dashboard"} <= set(TABLES)
    for table, kind in TABLES.items():
        for name in kind.__struct_fields__:
            assert f"`{env_name(table, name)}`" in readme, (table, name)


# -- the seed's FRAISEQL_JOB_QUEUE_* variables --------------------------------------------------


def test_every_field_can_be_set_by_the_seeds_variable_name() -> None:
    for name in JobQueueConfig.__struct_fields__:
        var = "FRAISEQL_JOB_QUEUE_" + name.upper()
        config = load_config(env={var: _env_text(name)})
        assert config.sources["job_queue"][name] == f"env {var}"
        assert config.env_clashes == []


def test_the_seeds_variables_take_effect() -> None:
    config = load_config(
        env={"FRAISEQL_JOB_QUEUE_URL": "redis://seed:6390/1", "FRAISEQL_JOB_QUEUE_MAX_RETRIES": "2"}
    )
    assert config.job_queue.url == "redis://seed:6390/1"
    assert config.job_queue.job_defaults().max_attempts == 3


def test_the_new_name_wins_a_clash_and_the_clash_is_reported() -> None:
    config = load_config(
        env={
            "FRAISEQL_JOB_QUEUE_BATCH_SIZE": "7",
            "STREAMQ_JOB_QUEUE_BATCH_SIZE": "9",
            "FRAISEQL_JOB_QUEUE_WORKER_CONCURRENCY": "3",
            "STREAMQ_JOB_QUEUE_WORKER_CONCURRENCY": "3",
        }
    )
    assert config.job_queue.batch_size == 9
    assert config.job_queue.worker_concurrency == 3
    assert config.env_clashes == [
        "job_queue.batch_size: STREAMQ_JOB_QUEUE_BATCH_SIZE (over FRAISEQL_JOB_QUEUE_BATCH_SIZE,"
        " which gave another value)",
        "job_queue.worker_concurrency: STREAMQ_JOB_QUEUE_WORKER_CONCURRENCY (over"
        " FRAISEQL_JOB_QUEUE_WORKER_CONCURRENCY, which gave the same value)",
    ]


def test_a_bad_or_unknown_seed_variable_is_refused_like_ours() -> None:
    with pytest.raises(ConfigError, match="from env FRAISEQL_JOB_QUEUE_BATCH_SIZE"):
        load_config(env={"FRAISEQL_JOB_QUEUE_BATCH_SIZE": "0"})
    with pytest.raises(ConfigError, match="unknown setting FRAISEQL_JOB_QUEUE_NOPE"):
        load_config(env={"FRAISEQL_JOB_QUEUE_NOPE": "1"})
